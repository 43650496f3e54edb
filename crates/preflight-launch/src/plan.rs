//! Which checks a command needs before it may start.

use std::ffi::{OsStr, OsString};
use std::path::Path;

/// The checks that must pass before the command starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requirements {
    /// Check Modal credentials.
    pub modal: bool,
    /// Check the Hugging Face token (and write permission on the target repo, if one is given).
    pub hf: bool,
}

impl Requirements {
    /// Modal when asked for or when the command is `modal …` (or `python -m modal …`); HF when
    /// asked for or when a target repo is given (the repo only means something to HF).
    pub fn for_command(
        program: &OsStr,
        args: &[OsString],
        require_modal: bool,
        require_hf: bool,
        repo_given: bool,
    ) -> Requirements {
        Requirements {
            modal: require_modal || invokes_modal(program, args),
            hf: require_hf || repo_given,
        }
    }

    /// The names of the required checks, comma-separated: `modal,hf`.
    pub fn names(&self) -> String {
        let mut names = Vec::new();
        if self.modal {
            names.push("modal");
        }
        if self.hf {
            names.push("hf");
        }
        names.join(",")
    }
}

/// True when the command runs the Modal CLI: `modal …`, `/path/to/modal …` or
/// `python[3[.x]] -m modal …`.
pub fn invokes_modal(program: &OsStr, args: &[OsString]) -> bool {
    let name = Path::new(program)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name == "modal" {
        return true;
    }
    name.starts_with("python")
        && args.len() >= 2
        && args[0] == OsStr::new("-m")
        && args[1] == OsStr::new("modal")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn modal_is_detected() {
        assert!(invokes_modal(OsStr::new("modal"), &args(&["run", "x.py"])));
        assert!(invokes_modal(OsStr::new("/usr/local/bin/modal"), &[]));
        assert!(invokes_modal(
            OsStr::new("python3"),
            &args(&["-m", "modal", "run"])
        ));
        assert!(!invokes_modal(OsStr::new("python3"), &args(&["modal"])));
        assert!(!invokes_modal(OsStr::new("modal-ish"), &[]));
        assert!(!invokes_modal(OsStr::new("python"), &args(&["train.py"])));
    }

    #[test]
    fn requirements_combine_flags_and_command() {
        let modal_run = Requirements::for_command(OsStr::new("modal"), &[], false, false, false);
        assert_eq!(
            modal_run,
            Requirements {
                modal: true,
                hf: false
            }
        );
        let with_repo = Requirements::for_command(OsStr::new("python"), &[], false, false, true);
        assert_eq!(
            with_repo,
            Requirements {
                modal: false,
                hf: true
            }
        );
        let both = Requirements::for_command(OsStr::new("python"), &[], true, true, false);
        assert_eq!(both.names(), "modal,hf");
        assert_eq!(Requirements::default().names(), "");
    }
}
