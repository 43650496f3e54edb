//! The commands shown in the `console` blocks of README.md and AGENTS.md run, against the Hub
//! emulator, and end with the status the document implies, so the docs cannot rot.
//!
//! The conventions (also documented in AGENTS.md, "Docs with code"):
//!
//! * A ```` ```console ```` block holds commands only, one per line, no `$ ` prompt and no
//!   output. Blank lines and lines starting with `#` are ignored. A `# comment` after a command
//!   is fine (the shell ignores it).
//! * A command is expected to exit 0. A line ending in `# exit: N` must exit with N instead
//!   (for examples of a failure).
//! * ```` ```console skip="reason" ```` on the fence line skips the whole block; the reason is
//!   required. GitHub still highlights it as `console` (only the first word of the info string
//!   names the language). Use it for blocks that need real credentials or the network, start a
//!   server, install things, or run the test suite itself.
//! * Each block runs in its own empty working directory with its own emulator; the commands of
//!   a block run in order and share that directory, so a block can create a folder and then
//!   upload it.
//! * The environment is cleared, then: `PATH` = a directory holding `preflight` (a symlink to
//!   the binary under test) followed by the caller's `PATH`; `HOME`, `HF_HOME` and the auth log
//!   (`PREFLIGHT_AUTH_LOG`) in a temp dir; `HF_ENDPOINT` = the emulator; `HF_TOKEN` = a write
//!   token of user `alice`, member of the org `acme` (see `support::emulator`). No Modal
//!   credentials are set, so `preflight check modal` exits 10 here.
//! * `cargo run -q -p preflight-cli -- ARGS` is run as `preflight ARGS`. Any other `cargo`
//!   command, and `cargo run -p hub-emulator` (a server that never exits), must be in a skipped
//!   block.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{self, Run, WRITE_TOKEN};

/// How long one documented command may take before the test fails.
const COMMAND_DEADLINE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    /// `Some(reason)` when the fence carries `skip="reason"`.
    skip: Option<String>,
    commands: Vec<DocCommand>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct DocCommand {
    /// 1-based line in the document.
    line: usize,
    /// The line as written.
    text: String,
    /// The status the document implies: 0, or the `# exit: N` marker.
    expected: i32,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_path_buf()
}

/// Parses the info string after ```` ``` ````: `console` then optional `skip="reason"`.
/// Returns `None` when the block is not a console block.
fn parse_fence(info: &str, line: usize) -> Result<Option<Option<String>>, String> {
    let info = info.trim();
    let (language, rest) = info.split_once(char::is_whitespace).unwrap_or((info, ""));
    if language != "console" {
        return Ok(None);
    }
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok(Some(None));
    }
    let Some(value) = rest.strip_prefix("skip=") else {
        return Err(format!(
            "line {line}: unknown attribute `{rest}` on a console fence; the only one is skip=\"reason\""
        ));
    };
    let reason = value
        .strip_prefix('"')
        .and_then(|value| value.strip_suffix('"'))
        .filter(|reason| !reason.trim().is_empty() && !reason.contains('"'))
        .ok_or_else(|| {
            format!("line {line}: write skip=\"a reason\" with a non-empty reason in double quotes")
        })?;
    Ok(Some(Some(reason.to_owned())))
}

/// The expected status of one command line: the trailing `# exit: N` marker, else 0.
fn expected_status(text: &str, line: usize) -> Result<i32, String> {
    let Some((_, marker)) = text.rsplit_once('#') else {
        return Ok(0);
    };
    let Some(value) = marker.trim().strip_prefix("exit:") else {
        return Ok(0);
    };
    value
        .trim()
        .parse::<i32>()
        .map_err(|_| format!("line {line}: `# exit: N` needs a number, found `{marker}`"))
}

/// Every console block of a Markdown document, in order.
fn parse_blocks(markdown: &str) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    // (fence marker, Some(block) if it is a console block)
    let mut open: Option<(String, Option<Block>)> = None;
    for (index, raw) in markdown.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim_start();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let fence = "```".to_owned();
                    let block = parse_fence(info, line)?.map(|skip| Block {
                        line,
                        skip,
                        commands: Vec::new(),
                    });
                    open = Some((fence, block));
                }
            }
            Some((fence, block)) => {
                if trimmed.trim_end() == fence.as_str() {
                    if let Some(block) = block.take() {
                        blocks.push(block);
                    }
                    open = None;
                    continue;
                }
                let Some(block) = block else { continue };
                let text = raw.trim();
                if text.is_empty() || text.starts_with('#') {
                    continue;
                }
                if text.starts_with("$ ") {
                    return Err(format!(
                        "line {line}: console blocks hold commands only, without a `$ ` prompt"
                    ));
                }
                block.commands.push(DocCommand {
                    line,
                    text: text.to_owned(),
                    expected: expected_status(text, line)?,
                });
            }
        }
    }
    if let Some((_, Some(block))) = open {
        return Err(format!(
            "line {}: console block is never closed",
            block.line
        ));
    }
    Ok(blocks)
}

/// The command as the test runs it: `cargo run -q -p preflight-cli --` becomes `preflight`.
fn rewrite(text: &str, line: usize) -> Result<String, String> {
    const CARGO_PREFLIGHT: &str = "cargo run -q -p preflight-cli --";
    if let Some(rest) = text.strip_prefix(CARGO_PREFLIGHT) {
        return Ok(format!("preflight{rest}"));
    }
    if text.starts_with("cargo ") || text.starts_with("hub-emulator") {
        return Err(format!(
            "line {line}: `{text}` cannot run in the doc test (only `{CARGO_PREFLIGHT} ARGS` is \
             rewritten to the built binary); mark its block ```console skip=\"reason\""
        ));
    }
    Ok(text.to_owned())
}

/// A scratch environment for one block: bin dir with the `preflight` symlink, home, logs.
struct BlockEnv {
    dir: tempfile::TempDir,
}

impl BlockEnv {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["bin", "home", "hf-home", "work", "out"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        }
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_preflight"),
            dir.path().join("bin/preflight"),
        )
        .expect("symlink preflight");
        BlockEnv { dir }
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("auth.log")).unwrap_or_default()
    }

    fn run(&self, script: &str, endpoint: &str, index: usize) -> Run {
        let mut path = std::ffi::OsString::from(self.path("bin"));
        if let Some(inherited) = std::env::var_os("PATH") {
            path.push(":");
            path.push(inherited);
        }
        let stdout_path = self.path("out").join(format!("{index}.stdout"));
        let stderr_path = self.path("out").join(format!("{index}.stderr"));
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.path("home"))
            .env("HF_HOME", self.path("hf-home"))
            .env("HF_ENDPOINT", endpoint)
            .env("HF_TOKEN", WRITE_TOKEN)
            .env("PREFLIGHT_AUTH_LOG", self.path("auth.log"))
            .env("PREFLIGHT_TEST_NO_RETRY_DELAY", "1")
            .env("NO_COLOR", "1")
            .current_dir(self.path("work"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
            .spawn()
            .expect("sh starts");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if started.elapsed() > COMMAND_DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`{script}` did not finish within {COMMAND_DEADLINE:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Run {
            code: status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(&stdout_path).unwrap_or_default(),
            stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
        }
    }
}

/// Runs every non-skipped console block of `document`; returns how many commands ran.
fn run_document(document: &str) -> usize {
    let path = workspace_root().join(document);
    let markdown = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let blocks = parse_blocks(&markdown).unwrap_or_else(|error| panic!("{document}: {error}"));
    let mut ran = 0;
    let mut failures = Vec::new();
    for block in &blocks {
        if let Some(reason) = &block.skip {
            eprintln!("{document}:{}: block skipped ({reason})", block.line);
            continue;
        }
        let emulator = support::emulator();
        let env = BlockEnv::new();
        for command in &block.commands {
            let script = rewrite(&command.text, command.line)
                .unwrap_or_else(|error| panic!("{document}: {error}"));
            let run = env.run(&script, &emulator.url(), ran);
            ran += 1;
            eprintln!(
                "{document}:{}: `{}` exited {} (expected {})",
                command.line, command.text, run.code, command.expected
            );
            support::assert_no_token(&run, &env.log());
            if run.code != command.expected {
                failures.push(format!(
                    "{document}:{}: `{}` exited {}, the document implies {}\n--- stdout\n{}--- stderr\n{}",
                    command.line, command.text, run.code, command.expected, run.stdout, run.stderr
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "documented commands do not behave as documented:\n\n{}",
        failures.join("\n")
    );
    ran
}

#[test]
fn readme_console_blocks_run_as_documented() {
    let ran = run_document("README.md");
    assert!(
        ran >= 3,
        "README.md: only {ran} commands ran; is the parser broken?"
    );
}

#[test]
fn agents_md_console_blocks_run_as_documented() {
    let ran = run_document("AGENTS.md");
    assert!(
        ran >= 5,
        "AGENTS.md: only {ran} commands ran; is the parser broken?"
    );
}

#[test]
fn parser_reads_commands_markers_and_skips() {
    let markdown = "\
text
```console
preflight check hf          # a comment
# a comment line

preflight check modal       # no Modal here  # exit: 10
```

```console skip=\"needs real credentials\"
preflight check hf --repo NS/NAME
```

```sh
not a console block
```
";
    let blocks = parse_blocks(markdown).expect("parses");
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].skip, None);
    assert_eq!(blocks[0].line, 2);
    let commands: Vec<(usize, i32)> = blocks[0]
        .commands
        .iter()
        .map(|command| (command.line, command.expected))
        .collect();
    assert_eq!(commands, vec![(3, 0), (6, 10)]);
    assert_eq!(blocks[1].skip.as_deref(), Some("needs real credentials"));
    assert_eq!(blocks[1].commands.len(), 1);
}

#[test]
fn parser_rejects_bad_markers() {
    assert!(parse_blocks("```console skip=\n```\n").is_err());
    assert!(parse_blocks("```console skip=\"\"\n```\n").is_err());
    assert!(parse_blocks("```console title=\"x\"\n```\n").is_err());
    assert!(parse_blocks("```console\n$ preflight check\n```\n").is_err());
    assert!(parse_blocks("```console\npreflight check # exit: x\n```\n").is_err());
    assert!(parse_blocks("```console\npreflight check\n").is_err());
}

#[test]
fn cargo_run_is_rewritten_or_refused() {
    assert_eq!(
        rewrite("cargo run -q -p preflight-cli -- demo   # note", 1).as_deref(),
        Ok("preflight demo   # note")
    );
    assert!(rewrite("cargo run -q -p hub-emulator -- --addr 127.0.0.1:0", 1).is_err());
    assert!(rewrite("cargo install --locked --path crates/preflight-cli", 1).is_err());
    assert_eq!(
        rewrite("preflight check", 1).as_deref(),
        Ok("preflight check")
    );
}
