//! From how the child ended (and whether we interrupted it) to the launcher's exit status.

use std::os::unix::process::ExitStatusExt;

use nix::sys::signal::Signal;

/// How the child process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildEnd {
    /// It exited with this code.
    Exited(i32),
    /// It was killed by this signal number.
    Signaled(i32),
}

impl ChildEnd {
    /// From the operating system's status.
    pub fn from_status(status: std::process::ExitStatus) -> ChildEnd {
        match (status.code(), status.signal()) {
            (Some(code), _) => ChildEnd::Exited(code),
            (None, Some(signal)) => ChildEnd::Signaled(signal),
            // Stopped/continued are not terminal states; `wait` never reports them.
            (None, None) => ChildEnd::Exited(i32::from(crate::EXIT_LAUNCH_FAILED)),
        }
    }

    /// The signal that ended the child, if any.
    pub fn signal(self) -> Option<i32> {
        match self {
            ChildEnd::Signaled(signal) => Some(signal),
            ChildEnd::Exited(_) => None,
        }
    }
}

/// The launcher's exit status: 128 + N of the signal the launcher received and forwarded
/// (130 for Ctrl-C), whatever the child returned; otherwise the child's own code, or
/// 128 + N when a signal N killed it.
pub fn exit_code(end: ChildEnd, interrupted_by: Option<i32>) -> u8 {
    let by_signal = |signal: i32| u8::try_from(128 + signal.clamp(0, 127)).unwrap_or(u8::MAX);
    if let Some(signal) = interrupted_by {
        return by_signal(signal);
    }
    match end {
        // A wait status only carries the low 8 bits.
        ChildEnd::Exited(code) => u8::try_from(code & 0xff).unwrap_or(u8::MAX),
        ChildEnd::Signaled(signal) => by_signal(signal),
    }
}

/// `SIGINT` for 2, `SIG42` for an unnamed number.
pub fn signal_name(signal: i32) -> String {
    Signal::try_from(signal)
        .map(|signal| signal.as_str().to_owned())
        .unwrap_or_else(|_| format!("SIG{signal}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_codes_pass_through() {
        for code in [0, 1, 3, 42, 255] {
            assert_eq!(i32::from(exit_code(ChildEnd::Exited(code), None)), code);
        }
        assert_eq!(exit_code(ChildEnd::Signaled(9), None), 137);
        assert_eq!(exit_code(ChildEnd::Signaled(15), None), 143);
    }

    #[test]
    fn an_interrupt_decides_whatever_the_child_said() {
        for end in [
            ChildEnd::Exited(0),
            ChildEnd::Exited(1),
            ChildEnd::Exited(130),
            ChildEnd::Signaled(9),
        ] {
            assert_eq!(exit_code(end, Some(2)), 130);
            assert_eq!(exit_code(end, Some(15)), 143);
        }
    }

    #[test]
    fn names() {
        assert_eq!(signal_name(2), "SIGINT");
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(200), "SIG200");
    }
}
