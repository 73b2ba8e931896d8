//! A debug probe on another host, reached through probe-rs's remote mode: `probe-rs serve` runs
//! on the host the probe is plugged into, and this side flashes and resets through it.
//!
//! The probe-rs library has no client for that server (the client lives in the `probe-rs` binary
//! of probe-rs-tools, built with its `remote` feature), so this session drives that CLI as a
//! subprocess: `probe-rs list`, `download` and `reset`, each with `--host`. The token goes in
//! the child's environment (`PROBE_RS_REMOTE_TOKEN`), never on its command line, where `ps`
//! would show it. The board's UART is reached over the network like any `kind: serial` port
//! (`tcp://` from ser2net, `rfc2217://`).
//!
//! The CLI is `probe-rs` on `PATH`, or the program `MCUBENCH_PROBE_RS_CLI` names.
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use super::probe::{check_chip, choose_probe, probe_settings, AttachedProbe, FlashPhase, FlashStep, ProbeError};
use crate::config::Board;

/// Environment variable naming the probe-rs CLI to run (default: `probe-rs` on `PATH`).
pub const CLI_ENV: &str = "MCUBENCH_PROBE_RS_CLI";
/// The variable the probe-rs CLI reads its remote token from.
const TOKEN_ENV: &str = "PROBE_RS_REMOTE_TOKEN";

/// How long a listing or a reset may take (a server across the internet, a slow probe).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// How long uploading and flashing an image may take (a few MB over a slow link).
const FLASH_TIMEOUT: Duration = Duration::from_secs(600);

/// The probe-rs CLI to run.
pub fn cli_program() -> PathBuf {
    std::env::var_os(CLI_ENV).filter(|v| !v.is_empty()).map_or_else(|| PathBuf::from("probe-rs"), PathBuf::from)
}

/// One `probe-rs` command line against a server, as it will be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliCommand {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// `Some` sets `PROBE_RS_REMOTE_TOKEN` for the child; `None` leaves the environment as is.
    pub token: Option<String>,
}

impl CliCommand {
    /// The subcommand, for messages (`download`, `reset`, `list`).
    fn name(&self) -> String {
        self.args.first().map(|a| a.to_string_lossy().into_owned()).unwrap_or_default()
    }
}

/// A probe-rs server and how to reach it: the CLI to run, the host, the token.
#[derive(Debug, Clone)]
pub struct ProbeServer {
    host: String,
    token: Option<String>,
    program: PathBuf,
}

impl ProbeServer {
    /// The server at `host`; the token from the variable `token_env` (`for_what` names who
    /// asks, in the error when it is not set).
    pub fn new(host: &str, token_env: Option<&str>, for_what: &str) -> Result<ProbeServer, ProbeError> {
        let token = match token_env {
            None => None,
            Some(var) => Some(std::env::var(var).map_err(|_| ProbeError::RemoteTokenUnset { board: for_what.to_string(), var: var.to_string(), host: host.to_string() })?),
        };
        Ok(ProbeServer { host: host.to_string(), token, program: cli_program() })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The probes the server sees (after checking that the CLI can talk to a server).
    pub async fn list(&self, for_what: &str) -> Result<Vec<AttachedProbe>, ProbeError> {
        self.check_cli(for_what).await?;
        let listing = self.run(for_what, self.list_command(), COMMAND_TIMEOUT).await?;
        Ok(parse_probe_list(&listing))
    }

    fn command(&self, subcommand: &str, rest: impl IntoIterator<Item = OsString>) -> CliCommand {
        let mut args: Vec<OsString> = vec![subcommand.into(), "--host".into(), self.host.as_str().into()];
        args.extend(rest);
        CliCommand { program: self.program.clone(), args, token: self.token.clone() }
    }

    pub fn list_command(&self) -> CliCommand {
        self.command("list", [])
    }

    /// Runs `probe-rs --help` once, to tell "no such program" and "built without `remote`"
    /// apart from a server that cannot be reached.
    async fn check_cli(&self, for_what: &str) -> Result<(), ProbeError> {
        let cli = self.program.display().to_string();
        let out = Command::new(&self.program)
            .arg("--help")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| ProbeError::RemoteCliMissing { board: for_what.to_string(), cli: cli.clone(), cause: e.to_string() })?;
        let help = String::from_utf8_lossy(&out.stdout);
        if !help.contains("--host") {
            return Err(ProbeError::RemoteCliWithoutRemote { board: for_what.to_string(), cli });
        }
        Ok(())
    }

    /// Runs one CLI command; its standard output on success. A failure keeps the CLI's own
    /// words (its last lines of standard error).
    async fn run(&self, for_what: &str, command: CliCommand, timeout: Duration) -> Result<String, ProbeError> {
        let name = command.name();
        let mut cmd = Command::new(&command.program);
        cmd.args(&command.args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        if let Some(token) = &command.token {
            cmd.env(TOKEN_ENV, token);
        }
        // Its errors are read for their words; a backtrace would bury them.
        cmd.env("RUST_BACKTRACE", "0").env("RUST_LIB_BACKTRACE", "0");
        let board = for_what.to_string();
        let child = cmd.spawn().map_err(|e| ProbeError::RemoteCliMissing { board: board.clone(), cli: command.program.display().to_string(), cause: e.to_string() })?;
        let out = match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Err(_) => return Err(ProbeError::RemoteTimeout { board, host: self.host.clone(), command: name, waited: timeout }),
            Ok(Err(e)) => return Err(ProbeError::RemoteCommand { board, host: self.host.clone(), command: name, cause: e.to_string() }),
            Ok(Ok(out)) => out,
        };
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let cause = cli_error_text(&stderr).unwrap_or_else(|| format!("exited with {}", out.status));
        Err(classify_failure(for_what, &self.host, &name, cause))
    }
}

/// A probe behind a probe-rs server, chosen and checked; flashes and resets through the CLI.
#[derive(Debug, Clone)]
pub struct RemoteProbeSession {
    board: String,
    chip: String,
    server: ProbeServer,
    probe: AttachedProbe,
}

impl RemoteProbeSession {
    /// Checks the chip name (locally: probe-rs's chip list is the same on both sides), that the
    /// CLI can talk to a server, and that the server has exactly the probe `probe.selector`
    /// names (any one probe when it names none).
    pub async fn open(board: &Board) -> Result<RemoteProbeSession, ProbeError> {
        let name = board.name.clone();
        let (settings, selector) = probe_settings(board)?;
        let remote = settings.remote.as_ref().ok_or_else(|| ProbeError::NotAProbeBoard { board: name.clone() })?;
        check_chip(&name, &settings.chip)?;
        let server = ProbeServer::new(&remote.host, remote.token_env.as_deref(), &name)?;
        let host = server.host.clone();
        let attached = server.list(&name).await?;
        if attached.is_empty() {
            let wanted = selector.as_ref().map_or("any probe".to_string(), |s| format!("selector '{s}'"));
            return Err(ProbeError::RemoteNoProbe { board: name, host, wanted });
        }
        let probe = choose_probe(&name, selector.as_ref(), &attached).map_err(|e| ProbeError::OnRemote { host: host.clone(), inner: Box::new(e) })?;
        if !probe.accessible {
            let inner = ProbeError::ProbeOpen { board: name, probe: probe.to_string(), cause: "the server's user may not open it".to_string() };
            return Err(ProbeError::OnRemote { host, inner: Box::new(inner) });
        }
        Ok(RemoteProbeSession { board: name, chip: settings.chip.clone(), server, probe })
    }

    pub fn probe(&self) -> &AttachedProbe {
        &self.probe
    }

    pub fn chip(&self) -> &str {
        &self.chip
    }

    pub fn host(&self) -> &str {
        &self.server.host
    }

    /// Uploads the ELF to the server, which writes it to flash and verifies it. The CLI shows
    /// no progress through a pipe, so `progress` hears the start and the end.
    pub async fn flash(&self, elf: &Path, mut progress: impl FnMut(FlashStep) + Send + 'static) -> Result<(), ProbeError> {
        let fail = |cause: String| ProbeError::FlashFailed { board: self.board.clone(), elf: elf.to_path_buf(), cause };
        let size = std::fs::metadata(elf).map_err(|e| fail(e.to_string()))?.len();
        progress(FlashStep { phase: FlashPhase::Program, done_bytes: 0, total_bytes: Some(size), finished: false });
        match self.server.run(&self.board, self.download_command(elf), FLASH_TIMEOUT).await {
            Ok(_) => {
                progress(FlashStep { phase: FlashPhase::Program, done_bytes: size, total_bytes: Some(size), finished: true });
                Ok(())
            }
            Err(ProbeError::RemoteCommand { cause, .. }) => Err(fail(format!("{cause} (through the probe-rs server at {})", self.server.host))),
            Err(other) => Err(other),
        }
    }

    /// Resets the chip and lets it run.
    pub async fn reset_and_run(&self) -> Result<(), ProbeError> {
        match self.server.run(&self.board, self.reset_command(), COMMAND_TIMEOUT).await {
            Ok(_) => Ok(()),
            Err(ProbeError::RemoteCommand { cause, .. }) => {
                Err(ProbeError::Reset { board: self.board.clone(), cause: format!("{cause} (through the probe-rs server at {})", self.server.host) })
            }
            Err(other) => Err(other),
        }
    }

    /// The options that pick the probe and chip on the server.
    fn target_args(&self) -> Vec<OsString> {
        vec!["--chip".into(), self.chip.as_str().into(), "--probe".into(), self.probe.selector().to_string().into(), "--non-interactive".into()]
    }

    pub fn download_command(&self, elf: &Path) -> CliCommand {
        let mut rest = self.target_args();
        rest.extend(["--verify", "--disable-progressbars", "--binary-format", "elf"].map(OsString::from));
        rest.push(elf.as_os_str().to_owned());
        self.server.command("download", rest)
    }

    pub fn reset_command(&self) -> CliCommand {
        self.server.command("reset", self.target_args())
    }

}

/// The CLI's error, without its log noise and colour codes: the lines from its last `Error:`
/// on (anyhow's "Caused by:" chain included), at most 20 of them, on one line.
fn cli_error_text(stderr: &str) -> Option<String> {
    let plain = strip_ansi(stderr);
    let lines: Vec<&str> = plain.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.is_empty() {
        return None;
    }
    let start = lines.iter().rposition(|l| l.starts_with("Error:") || l.starts_with("Error ")).unwrap_or(lines.len().saturating_sub(5));
    // A backtrace (RUST_BACKTRACE set after all) ends the message.
    let tail: Vec<&str> = lines[start..].iter().take_while(|l| !l.starts_with("Stack backtrace:")).take(20).copied().collect();
    Some(tail.join(" / "))
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, up to the final byte (a letter).
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Names what went wrong from the CLI's words: the server not answering, the server closing
/// the connection on us (a token it does not know), or anything else the command reported.
pub fn classify_failure(board: &str, host: &str, command: &str, cause: String) -> ProbeError {
    let lower = cause.to_ascii_lowercase();
    let (board, host, command) = (board.to_string(), host.to_string(), command.to_string());
    if lower.contains("failed to connect") || lower.contains("connection refused") || lower.contains("failed to lookup address")
        || (lower.contains("no such file or directory (os error 2)") && lower.contains("socket")) {
        return ProbeError::RemoteUnreachable { board, host, cause };
    }
    if lower.contains("no challenge header") {
        return ProbeError::RemoteUnreachable { board, host, cause: format!("{cause} (the address answers, but not as a probe-rs server)") };
    }
    if (lower.contains("connection") && (lower.contains("closed") || lower.contains("reset"))) || lower.contains("challenge response") {
        return ProbeError::RemoteRefused { board, host, cause };
    }
    ProbeError::RemoteCommand { board, host, command, cause }
}

/// Reads `probe-rs list`: lines `[N]: IDENTIFIER -- VID:PID[-IFACE]:SERIAL (TYPE)`, ending in
/// ` (inaccessible)` for a probe the server's user may not open. Other lines are skipped.
pub fn parse_probe_list(listing: &str) -> Vec<AttachedProbe> {
    let mut probes: Vec<AttachedProbe> = Vec::new();
    for line in listing.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix('[').and_then(|r| r.split_once("]: ")).map(|(_, r)| r) else { continue };
        let Some((identifier, ids)) = rest.rsplit_once(" -- ") else { continue };
        let (ids, accessible) = match ids.strip_suffix(" (inaccessible)") {
            Some(ids) => (ids, false),
            None => (ids, true),
        };
        // Drop the probe type, the last parenthesised part.
        let ids = match ids.rfind(" (") {
            Some(i) if ids.ends_with(')') => &ids[..i],
            _ => ids,
        };
        let mut parts = ids.splitn(3, ':');
        let (Some(vid), Some(pid)) = (parts.next(), parts.next()) else { continue };
        // A multi-interface probe shows `PID-IFACE`; the selector matches on VID:PID:SERIAL.
        let pid = pid.split('-').next().unwrap_or(pid);
        let (Ok(vendor_id), Ok(product_id)) = (u16::from_str_radix(vid, 16), u16::from_str_radix(pid, 16)) else { continue };
        let serial = parts.next().map(str::to_string).filter(|s| !s.is_empty());
        let probe = AttachedProbe { identifier: identifier.trim().to_string(), vendor_id, product_id, serial, accessible };
        if !probes.contains(&probe) {
            probes.push(probe);
        }
    }
    probes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(token: Option<&str>) -> RemoteProbeSession {
        RemoteProbeSession {
            board: "l4r5-far".into(),
            chip: "STM32L4R5ZITx".into(),
            server: ProbeServer { host: "ws://farm-2:3000".into(), token: token.map(Into::into), program: PathBuf::from("/opt/probe-rs") },
            probe: AttachedProbe { identifier: "STLink V3".into(), vendor_id: 0x0483, product_id: 0x374e, serial: Some("002A00".into()), accessible: true },
        }
    }

    fn args(c: &CliCommand) -> Vec<String> {
        c.args.iter().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn listings_parse_into_probes() {
        let listing = "The following debug probes were found:\n\
            [0]: STLink V3 -- 0483:374e:002A00 (ST-LINK)\n\
            [1]: Debug Probe (CMSIS-DAP) -- 2e8a:000c:E6614103E7 (CMSIS-DAP)\n\
            [2]: Dual RS232-HS -- 0403:6010-1:FT12 (FTDI) (inaccessible)\n\
            [3]: J-Link -- 1366:1015: (J-Link)\n\
            hint: some setup text\n";
        let probes = parse_probe_list(listing);
        assert_eq!(probes.len(), 4, "{probes:?}");
        assert_eq!(probes[0].to_string(), "STLink V3 (0483:374e:002A00)");
        assert_eq!(probes[1].identifier, "Debug Probe (CMSIS-DAP)");
        assert_eq!(probes[1].serial.as_deref(), Some("E6614103E7"));
        assert_eq!((probes[2].product_id, probes[2].accessible), (0x6010, false));
        assert_eq!(probes[3].serial, None);
        assert!(parse_probe_list("No debug probes were found.\n").is_empty());
    }

    #[test]
    fn commands_carry_host_chip_and_probe_but_not_the_token() {
        let s = session(Some("s3cret"));
        let download = s.download_command(Path::new("/tmp/fw.elf"));
        assert_eq!(
            args(&download),
            [
                "download", "--host", "ws://farm-2:3000", "--chip", "STM32L4R5ZITx", "--probe", "0483:374e:002A00", "--non-interactive", "--verify",
                "--disable-progressbars", "--binary-format", "elf", "/tmp/fw.elf"
            ]
        );
        assert!(!args(&download).iter().any(|a| a.contains("s3cret")));
        assert_eq!(download.token.as_deref(), Some("s3cret"));
        assert_eq!(args(&s.reset_command()), ["reset", "--host", "ws://farm-2:3000", "--chip", "STM32L4R5ZITx", "--probe", "0483:374e:002A00", "--non-interactive"]);
        assert_eq!(args(&s.server.list_command()), ["list", "--host", "ws://farm-2:3000"]);
        assert_eq!(session(None).server.list_command().token, None);
    }

    #[test]
    fn cli_failures_are_named() {
        let err = "\u{1b}[2m2026-11-27T06:00:00Z\u{1b}[0m WARN something\nError: Failed to connect\n\nCaused by:\n    IO error: Connection refused (os error 111)\n";
        let cause = cli_error_text(err).unwrap();
        assert_eq!(cause, "Error: Failed to connect / Caused by: / IO error: Connection refused (os error 111)");
        let e = classify_failure("b", "ws://h:1", "list", cause);
        assert!(matches!(e, ProbeError::RemoteUnreachable { .. }), "{e:?}");
        assert!(e.to_string().starts_with("board b: cannot reach the probe-rs server at ws://h:1: Error: Failed to connect"), "{e}");

        let e = classify_failure("b", "ws://h:1", "list", "Error: Connection closed normally".into());
        assert!(matches!(e, ProbeError::RemoteRefused { .. }), "{e:?}");
        let e = classify_failure("b", "ws://h:1", "download", "Error: flash algorithm failed".into());
        assert_eq!(e.to_string(), "board b: `probe-rs download` through the probe-rs server at ws://h:1 failed: Error: flash algorithm failed");
        assert_eq!(cli_error_text(" \n"), None);
        // probe-rs 0.32's own words for a wrong token, with a backtrace after them.
        let err = "WARN postcard_rpc::host_client::util: in_worker: wire receive error, exiting\nError: Connection closed\n\nStack backtrace:\n   0: anyhow::error::msg\n";
        assert_eq!(cli_error_text(err).as_deref(), Some("Error: Connection closed"));
    }
}
