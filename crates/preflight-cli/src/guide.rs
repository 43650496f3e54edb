//! The troubleshooting guide, embedded at build time so `preflight explain` works offline
//! and always matches the binary's codes.

use preflight_errors::Code;

/// `docs/auth-troubleshooting.md`, verbatim.
pub const GUIDE: &str = include_str!("../../../docs/auth-troubleshooting.md");

/// The guide's sections as `(heading code, body including the heading)`, in file order.
/// A section starts at a `## PF…` heading and runs to the next `## ` heading.
pub fn sections() -> Vec<(String, String)> {
    let mut sections: Vec<(String, String)> = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in GUIDE.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            if let Some(done) = current.take() {
                sections.push(done);
            }
            let heading = heading.trim();
            if heading.starts_with("PF") {
                current = Some((heading.to_owned(), format!("{line}\n")));
            }
            continue;
        }
        if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    if let Some(done) = current.take() {
        sections.push(done);
    }
    sections
}

/// The section explaining `code`, trimmed.
pub fn section_for(code: Code) -> Option<String> {
    sections()
        .into_iter()
        .find(|(heading, _)| heading == code.as_str())
        .map(|(_, body)| body.trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_section_and_every_section_a_code() {
        let headings: Vec<String> = sections().into_iter().map(|(code, _)| code).collect();
        for code in Code::ALL {
            assert!(
                headings.iter().any(|heading| heading == code.as_str()),
                "{code} has no section in docs/auth-troubleshooting.md"
            );
        }
        for heading in &headings {
            assert!(
                Code::parse(heading).is_some(),
                "docs/auth-troubleshooting.md has a section for {heading}, which is not a code"
            );
        }
        let mut unique = headings.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), headings.len(), "a code has two sections");
    }

    #[test]
    fn sections_say_what_to_do_and_how_to_confirm() {
        for code in Code::ALL {
            let section = section_for(*code).expect("section exists");
            assert!(section.contains("Resolution"), "{code} lacks a resolution");
            assert!(
                section.contains("Confirm"),
                "{code} lacks a confirmation step"
            );
        }
    }
}
