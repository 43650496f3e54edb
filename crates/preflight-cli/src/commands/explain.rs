//! `preflight explain CODE`: the guide's section for a code, from the same source as the docs.

use preflight_errors::{Code, ExitStatus};

use crate::cli::ExplainArgs;
use crate::guide;

pub fn run(args: &ExplainArgs) -> u8 {
    let Some(code) = Code::parse(&args.code) else {
        let known: Vec<&str> = Code::ALL.iter().map(|code| code.as_str()).collect();
        eprintln!(
            "error: `{}` is not a Preflight error code\nhint: known codes are {}",
            args.code,
            known.join(", ")
        );
        return ExitStatus::Usage.code();
    };
    match guide::section_for(code) {
        Some(section) => {
            println!("{section}");
            println!("\n(docs: {})", code.docs_anchor());
            ExitStatus::Success.code()
        }
        None => {
            eprintln!("error: the guide has no section for {code}; this is a bug in Preflight");
            ExitStatus::Failure.code()
        }
    }
}
