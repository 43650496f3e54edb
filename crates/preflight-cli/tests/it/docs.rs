//! The docs cannot drift from the code: every code has a guide section (checked in
//! `guide.rs`), every relative link between the Markdown documents resolves, and every Markdown
//! file a Rust source names (rustdoc, comments, messages) is in the repository.

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_path_buf()
}

fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or("");
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" && !name.starts_with("target-") {
                    stack.push(path);
                }
            } else if name.ends_with(".md") {
                files.push(path);
            }
        }
    }
    files
}

/// GitHub's heading anchor: lower case, spaces to `-`, punctuation dropped.
fn anchor_of(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    let mut in_code = false;
    let mut found = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        if !in_code && line.starts_with('#') {
            found.push(anchor_of(line.trim_start_matches('#')));
        }
    }
    found
}

#[test]
fn every_relative_link_between_documents_resolves() {
    let root = workspace_root();
    let mut broken = Vec::new();
    for file in markdown_files(&root) {
        let text = std::fs::read_to_string(&file).expect("read");
        let mut rest = text.as_str();
        while let Some(start) = rest.find("](") {
            rest = &rest[start + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = &rest[..end];
            rest = &rest[end..];
            if target.starts_with("http://")
                || target.starts_with("https://")
                || target.starts_with("mailto:")
                || target.contains(' ')
            {
                continue;
            }
            let (path_part, anchor) = match target.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (target, None),
            };
            let linked = if path_part.is_empty() {
                file.clone()
            } else {
                file.parent().expect("parent").join(path_part)
            };
            if !linked.exists() {
                broken.push(format!("{}: {target} (no such file)", file.display()));
                continue;
            }
            if let Some(anchor) = anchor
                && linked.extension().is_some_and(|ext| ext == "md")
            {
                let linked_text = std::fs::read_to_string(&linked).expect("read");
                if !anchors(&linked_text).iter().any(|known| known == anchor) {
                    broken.push(format!("{}: {target} (no such heading)", file.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// Every `*.rs` file under `crates/*/src`.
fn rust_sources(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for krate in std::fs::read_dir(root.join("crates")).expect("read crates") {
        let mut stack = vec![krate.expect("entry").path().join("src")];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|ext| ext == "rs") {
                    files.push(path);
                }
            }
        }
    }
    files.sort();
    files
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-')
}

/// The Markdown paths `text` names, with their `#anchor` if any: `docs/x.md`,
/// `../../docs/x.md#pf003`, `README.md`. URLs (`https://…/README.md`) and bare `.md` (a
/// file extension in code, or `{name}.md` in a format string) are not paths.
fn markdown_mentions(text: &str) -> Vec<(String, Option<String>)> {
    let mut found = Vec::new();
    for (index, _) in text.match_indices(".md") {
        let end = index + ".md".len();
        let after = text[end..].chars().next();
        if after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue; // `.mdx`, `.md_files`, …
        }
        let start = text[..index]
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_path_char(*c))
            .last()
            .map_or(index, |(position, _)| position);
        let path = &text[start..end];
        let stem = &text[start..index];
        if !stem.chars().any(|c| c.is_ascii_alphanumeric() || c == '_')
            || path.starts_with("//")
            || text[..start].ends_with(':')
        {
            continue;
        }
        let anchor = text[end..].strip_prefix('#').map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                .collect::<String>()
        });
        found.push((path.to_owned(), anchor.filter(|anchor| !anchor.is_empty())));
    }
    found
}

#[test]
fn markdown_mentions_are_paths_not_extensions_or_urls() {
    let text = "see docs/protocol/hf-hub.md#whoami-v2, `../../docs/a.md`, README.md.\n\
                format!(\"{name}.md\"), ends_with(\".md\"), x.mdx, \
                https://example.invalid/blob/main/NOTES.md, docs/auth-troubleshooting.md#{}";
    let found = markdown_mentions(text);
    let expected = [
        ("docs/protocol/hf-hub.md", Some("whoami-v2")),
        ("../../docs/a.md", None),
        ("README.md", None),
        ("docs/auth-troubleshooting.md", None),
    ];
    let expected: Vec<(String, Option<String>)> = expected
        .iter()
        .map(|(path, anchor)| ((*path).to_owned(), anchor.map(str::to_owned)))
        .collect();
    assert_eq!(found, expected);
}

/// Rustdoc and comments point readers to Markdown files ("see `docs/protocol/hf-hub.md#…`");
/// each must be in the repository, and its `#anchor` a heading there. A path resolves from the
/// workspace root, from the source file's directory, or from the crate's directory.
#[test]
fn every_markdown_file_named_in_rust_sources_exists() {
    let root = workspace_root();
    let sources = rust_sources(&root);
    assert!(
        sources.len() > 20,
        "found only {} Rust sources under {}/crates/*/src",
        sources.len(),
        root.display()
    );
    let mut checked = 0;
    let mut broken = Vec::new();
    for file in &sources {
        let text = std::fs::read_to_string(file).expect("read");
        let crate_dir = file
            .ancestors()
            .find(|dir| dir.join("Cargo.toml").is_file())
            .unwrap_or(&root);
        let here = file.parent().expect("parent");
        for (path, anchor) in markdown_mentions(&text) {
            checked += 1;
            let Some(target) = [root.join(&path), here.join(&path), crate_dir.join(&path)]
                .into_iter()
                .find(|candidate| candidate.is_file())
            else {
                broken.push(format!(
                    "{}: {path} is not in the repository",
                    file.strip_prefix(&root).unwrap_or(file).display()
                ));
                continue;
            };
            if let Some(anchor) = anchor {
                let linked = std::fs::read_to_string(&target).expect("read");
                if !anchors(&linked).contains(&anchor) {
                    broken.push(format!(
                        "{}: {path}#{anchor} names no heading of {path}",
                        file.strip_prefix(&root).unwrap_or(file).display()
                    ));
                }
            }
        }
    }
    assert!(checked > 0, "no Markdown path found in any Rust source");
    assert!(
        broken.is_empty(),
        "Rust sources name Markdown files that are not in the repository (protocol facts \
         belong in docs/protocol/):\n{}",
        broken.join("\n")
    );
}
