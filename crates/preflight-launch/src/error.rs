//! The launcher's own failures, each with its PF code and exit status.

use std::io;
use std::path::PathBuf;

use preflight_errors::Code;

use crate::{EXIT_LAUNCH_FAILED, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND};

/// Why a command could not be started or supervised. Messages name the program, never its
/// arguments (which may carry secrets).
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The program is not on `PATH`, or the path given does not exist (PF301, 127).
    #[error("`{program}`: command not found{}", searched.as_ref().map(|path| format!(" (searched PATH={path})")).unwrap_or_default())]
    NotFound {
        /// The program as given.
        program: String,
        /// The `PATH` searched, when the program was a bare name.
        searched: Option<String>,
    },
    /// The program exists but cannot be executed (PF302, 126).
    #[error("`{}` cannot be executed: {reason}", path.display())]
    NotExecutable {
        /// The file that was found.
        path: PathBuf,
        /// Why: not executable, a directory, bad format, missing interpreter.
        reason: String,
    },
    /// Starting the program failed for another reason (PF303, 125).
    #[error("could not start `{program}`: {source}")]
    Spawn {
        /// The program as given.
        program: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// The launcher could not install its signal handlers (PF303, 125).
    #[error("could not set up signal handling: {0}")]
    Signals(io::Error),
    /// Waiting for the program failed; its process group was killed (PF303, 125).
    #[error("lost track of `{program}` (pid {pid}); its process group was killed: {source}")]
    Wait {
        /// The program as given.
        program: String,
        /// The child's pid.
        pid: u32,
        /// The operating system's error.
        source: io::Error,
    },
}

impl LaunchError {
    /// The troubleshooting code.
    pub fn code(&self) -> Code {
        match self {
            LaunchError::NotFound { .. } => Code::Pf301,
            LaunchError::NotExecutable { .. } => Code::Pf302,
            LaunchError::Spawn { .. } | LaunchError::Signals(_) | LaunchError::Wait { .. } => {
                Code::Pf303
            }
        }
    }

    /// The process exit status: 127, 126 or 125.
    pub fn exit_code(&self) -> u8 {
        match self {
            LaunchError::NotFound { .. } => EXIT_NOT_FOUND,
            LaunchError::NotExecutable { .. } => EXIT_NOT_EXECUTABLE,
            _ => EXIT_LAUNCH_FAILED,
        }
    }

    /// What to do about it, in one sentence.
    pub fn hint(&self) -> String {
        match self {
            LaunchError::NotFound { program, .. } if program == "modal" => {
                "install the Modal CLI with `pip install modal` (in the environment you run from) and check `modal --version`, or activate the virtualenv that has it".to_owned()
            }
            LaunchError::NotFound { .. } => {
                "check the spelling, install the program, or give its path (./script.sh); PATH is searched as the shell does".to_owned()
            }
            LaunchError::NotExecutable { path, .. } => format!(
                "make it executable (`chmod +x {}`), check its `#!` line names an installed interpreter, or run it through its interpreter (`python script.py`)",
                path.display()
            ),
            LaunchError::Spawn { .. } | LaunchError::Signals(_) => {
                "the system refused to start the process (limits on processes or memory?); retry, and report it if it persists".to_owned()
            }
            LaunchError::Wait { .. } => {
                "the command was stopped; if it was `modal run`, check `modal app list` for an app that is still running and stop it with `modal app stop`".to_owned()
            }
        }
    }
}
