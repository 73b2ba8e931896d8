//! `mcubench boards detect`: what is plugged in (debug probes, USB serial ports), which of it
//! is a probe we know, and ready-to-edit boards.yaml entries for it, made from the entries of
//! `boards.real.yaml` (with their comments) with the probe's selector and serial port put in.
//!
//! Scanning ([`scan`]) is the only part that looks at the machine; recognising and rendering
//! work on plain lists, so they are tested with made-up probes and ports.
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use super::probe::{list_attached, AttachedProbe};
use crate::config::{Board, BoardsError, BoardsFile, RemoteProbeSettings};

/// The example inventory of real boards, used as templates (compiled in, so an installed
/// mcubench has them too).
pub const REAL_BOARDS_YAML: &str = include_str!("../../../boards.real.yaml");

/// A USB serial port (a board's virtual COM port, a USB-UART adapter, an energy monitor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SerialPortSeen {
    /// The device, e.g. `/dev/ttyACM0`.
    pub device: String,
    /// Its stable `/dev/serial/by-id/...` name, when udev made one.
    pub by_id: Option<String>,
    pub usb: Option<UsbIds>,
}

impl SerialPortSeen {
    /// The name to put in boards.yaml: the by-id name survives re-plugging, ttyACMn does not.
    pub fn preferred_path(&self) -> &str {
        self.by_id.as_deref().unwrap_or(&self.device)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsbIds {
    pub vendor_id: u16,
    pub product_id: u16,
    pub serial: Option<String>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
}

/// What is plugged in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    pub probes: Vec<AttachedProbe>,
    pub ports: Vec<SerialPortSeen>,
}

/// Looks at the machine (blocking): probe-rs's probe list, the USB serial ports, and the
/// `/dev/serial/by-id` links. Non-USB ports (the legacy `/dev/ttyS*`) are left out: no board
/// of the farm is reached through one.
pub fn scan() -> Seen {
    let links = by_id_links(Path::new("/dev/serial/by-id"));
    let by_id_of = |device: &str| {
        let device = std::fs::canonicalize(device).unwrap_or_else(|_| PathBuf::from(device));
        links.iter().find(|(_, target)| *target == device).map(|(link, _)| link.display().to_string())
    };
    let mut ports = Vec::new();
    // serialport reads /sys/class/tty without libudev, and panics when it is missing.
    if Path::new("/sys/class/tty").is_dir() {
        for info in serialport::available_ports().unwrap_or_default() {
            if let serialport::SerialPortType::UsbPort(usb) = info.port_type {
                ports.push(SerialPortSeen {
                    by_id: by_id_of(&info.port_name),
                    device: info.port_name,
                    usb: Some(UsbIds {
                        vendor_id: usb.vid,
                        product_id: usb.pid,
                        serial: usb.serial_number,
                        manufacturer: usb.manufacturer,
                        product: usb.product,
                    }),
                });
            }
        }
    }
    // A by-id link whose device was not enumerated still names a port.
    for (link, target) in &links {
        if !ports.iter().any(|p| p.by_id.as_deref() == Some(&link.display().to_string())) {
            ports.push(SerialPortSeen { device: target.display().to_string(), by_id: Some(link.display().to_string()), usb: None });
        }
    }
    ports.sort_by(|a, b| a.preferred_path().cmp(b.preferred_path()));
    Seen { probes: list_attached(), ports }
}

/// The links in a `/dev/serial/by-id`-style directory and the devices they point to (none when
/// the directory is missing, as it is without udev).
pub fn by_id_links(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut links: Vec<(PathBuf, PathBuf)> =
        entries.flatten().filter_map(|e| std::fs::canonicalize(e.path()).ok().map(|target| (e.path(), target))).collect();
    links.sort();
    links
}

/// A kind of debug probe mcubench knows, and the template boards it is found on.
#[derive(Debug)]
pub struct KnownProbe {
    pub vendor_id: u16,
    /// `None`: any product of the vendor.
    pub product_id: Option<u16>,
    pub name: &'static str,
    /// Names of the `boards.real.yaml` entries this probe is on (the board behind the probe).
    pub boards: &'static [&'static str],
    /// What can and cannot be told from the probe alone.
    pub note: &'static str,
}

const ST: u16 = 0x0483;

/// The probes recognised by their USB ids. CMSIS-DAP probes of other makers are recognised by
/// probe-rs's name for them (see [`recognise`]).
pub const KNOWN_PROBES: &[KnownProbe] = &[
    KnownProbe {
        vendor_id: ST,
        product_id: Some(0x374b),
        name: "ST-LINK/V2-1",
        boards: &["nucleo-l4r5zi", "stm32f746g-disco", "nucleo-h743zi"],
        note: "the on-board ST-LINK/V2-1 of NUCLEO-144 and Discovery boards; it does not say which board it sits on, so the entries for it are alternatives: keep the one you have",
    },
    KnownProbe {
        vendor_id: ST,
        product_id: Some(0x374e),
        name: "STLINK-V3E",
        boards: &["nucleo-h743zi"],
        note: "the on-board STLINK-V3E of newer NUCLEO-144 boards (the NUCLEO-H743ZI2 among the example boards); other boards carry it too",
    },
    KnownProbe {
        vendor_id: ST,
        product_id: Some(0x374f),
        name: "STLINK-V3",
        boards: &[],
        note: "a stand-alone STLINK-V3 (V3SET, V3MINIE) or an on-board one; it can be wired to any STM32 board",
    },
    KnownProbe {
        vendor_id: ST,
        product_id: Some(0x3748),
        name: "ST-LINK/V2",
        boards: &[],
        note: "a stand-alone ST-LINK/V2 (no virtual COM port); it can be wired to any STM32 board",
    },
    KnownProbe {
        vendor_id: 0x1366,
        product_id: None,
        name: "SEGGER J-Link",
        boards: &["nrf52840-dk"],
        note: "the J-Link OB of Nordic's DKs (the nRF52840-DK among the example boards), or a stand-alone J-Link on any board: the two cannot be told apart",
    },
    KnownProbe {
        vendor_id: 0x2e8a,
        product_id: Some(0x000c),
        name: "Raspberry Pi Debug Probe",
        boards: &["rp-pico"],
        note: "a CMSIS-DAP probe wired to an SWD header; the Raspberry Pi Pico is assumed, but it can be wired to any board",
    },
];

/// The entry for probes that call themselves CMSIS-DAP, whoever made them.
pub const GENERIC_CMSIS_DAP: KnownProbe = KnownProbe {
    vendor_id: 0,
    product_id: None,
    name: "CMSIS-DAP probe",
    boards: &[],
    note: "a CMSIS-DAP probe (DAPLink and others); it can be wired to any board",
};

/// Which known probe this is, if any.
pub fn recognise(probe: &AttachedProbe) -> Option<&'static KnownProbe> {
    KNOWN_PROBES
        .iter()
        .find(|k| k.vendor_id == probe.vendor_id && k.product_id.map_or(true, |pid| pid == probe.product_id))
        .or_else(|| probe.identifier.to_ascii_uppercase().contains("CMSIS-DAP").then_some(&GENERIC_CMSIS_DAP))
}

/// One probe, what it was recognised as, its serial port, and the entries proposed for it.
#[derive(Debug, Clone)]
pub struct DetectedProbe {
    pub probe: AttachedProbe,
    pub known: Option<&'static KnownProbe>,
    /// The probe's own serial port (same USB ids and serial number), if one was seen.
    pub port: Option<SerialPortSeen>,
    /// More serial ports of the same probe (STLINK-V3 and some J-Links have two).
    pub more_ports: Vec<SerialPortSeen>,
    /// boards.yaml entries, as YAML text (one per candidate board), and parsed.
    pub entries: Vec<(String, Board)>,
}

/// The result of a scan, recognised.
#[derive(Debug, Clone)]
pub struct Detection {
    pub probes: Vec<DetectedProbe>,
    /// Serial ports that belong to no listed probe (USB-UART adapters, energy monitors, ...).
    pub other_ports: Vec<SerialPortSeen>,
    /// The probe-rs server the probes were listed from (`None`: this machine).
    pub remote: Option<String>,
}

impl Detection {
    pub fn is_empty(&self) -> bool {
        self.probes.is_empty() && self.other_ports.is_empty()
    }
}

/// The text of each board entry of a boards file, by name: from its `- name:` line to the
/// line before the next entry, without trailing blank lines.
pub fn entry_blocks(yaml: &str) -> Vec<(String, String)> {
    let mut blocks: Vec<(String, Vec<&str>)> = Vec::new();
    for line in yaml.lines() {
        if let Some(name) = line.trim_start().strip_prefix("- name:") {
            blocks.push((name.trim().trim_matches(['"', '\'']).to_string(), vec![line]));
        } else if let Some((_, lines)) = blocks.last_mut() {
            if line.starts_with(' ') || line.is_empty() {
                lines.push(line);
            }
        }
    }
    blocks
        .into_iter()
        .map(|(name, mut lines)| {
            while lines.last().is_some_and(|l| l.trim().is_empty()) {
                lines.pop();
            }
            (name, lines.join("\n") + "\n")
        })
        .collect()
}

/// Replaces the value after `key` on the line that holds it (up to `,`, ` }` or the comment).
fn replace_value(block: &str, key: &str, value: &str) -> String {
    let mut out = String::new();
    for line in block.lines() {
        if let Some(at) = line.find(key) {
            let start = at + key.len();
            let rest = &line[start..];
            let end = if let Some(quoted) = rest.strip_prefix('"') {
                quoted.find('"').map_or(rest.len(), |i| i + 2)
            } else {
                // The spaces before a closing `}` or a comment stay.
                rest[..rest.find([',', '}', '#']).unwrap_or(rest.len())].trim_end().len()
            };
            out.push_str(&format!("{}{value}{}\n", &line[..start], &rest[end..]));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// A template entry with this probe's name, selector and serial port put in.
fn fill_template(block: &str, name: &str, selector: &str, port: Option<&str>) -> String {
    let mut text = replace_value(block, "- name: ", name);
    text = replace_value(&text, "selector: ", &format!("\"{selector}\""));
    if let Some(port) = port {
        text = replace_value(&text, "{ port: ", port);
    }
    text
}

/// Whether a port belongs to a probe: the same USB ids and serial number (the ST-LINK,
/// J-Link OB and Debug Probe are composite devices: probe and serial port in one).
fn port_of_probe(port: &SerialPortSeen, probe: &AttachedProbe) -> bool {
    let Some(usb) = &port.usb else { return false };
    (usb.vendor_id, usb.product_id) == (probe.vendor_id, probe.product_id)
        && match (&usb.serial, &probe.serial) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            (None, None) => true,
            _ => false,
        }
}

/// Recognises what was seen and makes the entries. `templates` is a boards file whose entries
/// serve as templates ([`REAL_BOARDS_YAML`]); the entries made are checked by parsing them.
pub fn detect(seen: &Seen, templates: &str) -> Result<Detection, BoardsError> {
    let blocks = entry_blocks(templates);
    let mut used_names: Vec<String> = Vec::new();
    let mut claimed: Vec<&SerialPortSeen> = Vec::new();
    let mut probes = Vec::new();
    for probe in &seen.probes {
        let known = recognise(probe);
        let mut ports: Vec<SerialPortSeen> = seen.ports.iter().filter(|p| port_of_probe(p, probe)).cloned().collect();
        claimed.extend(seen.ports.iter().filter(|p| port_of_probe(p, probe)));
        let port = (!ports.is_empty()).then(|| ports.remove(0));
        let mut entries = Vec::new();
        for board in known.map_or(&[][..], |k| k.boards) {
            let Some((_, block)) = blocks.iter().find(|(name, _)| name == board) else { continue };
            // Two probes of one kind: the second board gets a name of its own.
            let mut name = board.to_string();
            let mut n = 2;
            while used_names.contains(&name) {
                name = format!("{board}-{n}");
                n += 1;
            }
            used_names.push(name.clone());
            let text = fill_template(block, &name, &probe.selector().to_string(), port.as_ref().map(|p| p.preferred_path()));
            let parsed = BoardsFile::parse(&format!("boards:\n{text}"), Path::new("boards.real.yaml (template)"))?;
            entries.push((text, parsed.boards.into_iter().next().expect("one entry parsed")));
        }
        probes.push(DetectedProbe { probe: probe.clone(), known, port, more_ports: ports, entries });
    }
    let other_ports = seen.ports.iter().filter(|p| !claimed.contains(p)).cloned().collect();
    Ok(Detection { probes, other_ports, remote: None })
}

/// Entries for the probes a probe-rs server lists (`mcubench boards detect --remote`): the
/// same recognition, with `remote:` added to each entry's probe. The server's serial ports are
/// not seen from here, so the entries keep the template's port for the user to replace.
pub fn detect_remote(probes: Vec<AttachedProbe>, templates: &str, remote: &RemoteProbeSettings) -> Result<Detection, BoardsError> {
    let mut found = detect(&Seen { probes, ports: Vec::new() }, templates)?;
    for p in &mut found.probes {
        for (text, board) in &mut p.entries {
            *text = add_remote(text, remote);
            let parsed = BoardsFile::parse(&format!("boards:\n{text}"), Path::new("boards.real.yaml (template)"))?;
            *board = parsed.boards.into_iter().next().expect("one entry parsed");
        }
    }
    found.remote = Some(remote.host.clone());
    Ok(found)
}

/// Puts `remote: { host, token_env }` into the entry's `probe: { ... }` line.
fn add_remote(block: &str, remote: &RemoteProbeSettings) -> String {
    let token = remote.token_env.as_deref().map_or(String::new(), |v| format!(", token_env: {v}"));
    let insert = format!(", remote: {{ host: '{}'{token} }}", remote.host);
    block
        .lines()
        .map(|line| match (line.trim_start().starts_with("probe: {"), line.find(" }")) {
            (true, Some(end)) => format!("{}{insert}{}\n", &line[..end], &line[end..]),
            _ => format!("{line}\n"),
        })
        .collect()
}

fn describe_port(port: &SerialPortSeen) -> String {
    let mut s = port.preferred_path().to_string();
    if port.by_id.is_some() {
        s.push_str(&format!(" (-> {})", port.device));
    }
    if let Some(usb) = &port.usb {
        let what: Vec<&str> = [usb.manufacturer.as_deref(), usb.product.as_deref()].into_iter().flatten().collect();
        s.push_str(&format!(" {:04x}:{:04x}", usb.vendor_id, usb.product_id));
        if !what.is_empty() {
            s.push_str(&format!(" {}", what.join(" ")));
        }
        if let Some(serial) = &usb.serial {
            s.push_str(&format!(", serial {serial}"));
        }
    }
    s
}

/// What to print when nothing is plugged in.
pub const NOTHING_FOUND: &str = "no probes or serial ports found (no debug probe on USB that probe-rs can see, no USB serial port, no /dev/serial/by-id links); plug the board in and run this again";

/// The detection as a boards.yaml fragment: the entries, each probe explained in comments.
pub fn render_yaml(d: &Detection) -> String {
    if d.is_empty() {
        return format!("# {NOTHING_FOUND}\n");
    }
    let mut out = format!(
        "# mcubench boards detect: {} debug probe(s), {} USB serial port(s).\n# Copy the entries of the boards you have into boards.yaml; check chip, clock and memory against docs/boards.md.\n",
        d.probes.len(),
        d.probes.iter().map(|p| usize::from(p.port.is_some()) + p.more_ports.len()).sum::<usize>() + d.other_ports.len()
    );
    if let Some(host) = &d.remote {
        out.push_str(&format!(
            "# The probes of the probe-rs server at {host}. Its serial ports cannot be seen from here: serve each board's UART with ser2net on that host and set serial.port to tcp://HOST:PORT (or rfc2217://HOST:PORT).\n"
        ));
    }
    let entries: usize = d.probes.iter().map(|p| p.entries.len()).sum();
    out.push_str(if entries == 0 { "boards: []\n" } else { "boards:\n" });
    for (i, p) in d.probes.iter().enumerate() {
        let selector = p.probe.selector();
        out.push_str(&format!("  # probe {}: {} ({selector}), probe-rs calls it \"{}\"\n", i + 1, p.known.map_or("unrecognised probe", |k| k.name), p.probe.identifier));
        if let Some(k) = p.known {
            out.push_str(&format!("  #   {}\n", k.note));
        }
        match &p.port {
            Some(port) => out.push_str(&format!("  #   its serial port: {}\n", describe_port(port))),
            None if d.remote.is_some() => {}
            None => out.push_str("  #   no serial port of its own was seen: set serial.port by hand (a USB-UART adapter?)\n"),
        }
        for more in &p.more_ports {
            out.push_str(&format!("  #   also on it: {}\n", describe_port(more)));
        }
        if !p.probe.accessible {
            out.push_str("  #   this user may not open it (permission denied): install probe-rs's udev rules (its probe setup guide) and plug it in again\n");
        }
        if p.probe.serial.is_none() {
            out.push_str("  #   it reports no serial number: with two of them attached, the selector cannot tell them apart\n");
        }
        if p.entries.is_empty() {
            out.push_str(&format!(
                "  #   no example board for it: copy an entry of boards.real.yaml and set probe: {{ chip: <probe-rs chip name>, selector: \"{selector}\" }}\n"
            ));
        }
        for (text, _) in &p.entries {
            out.push_str(text);
        }
    }
    if !d.other_ports.is_empty() {
        out.push_str("# USB serial ports of no debug probe (a USB-UART adapter for a `serial` board, an energy monitor):\n");
        for port in &d.other_ports {
            out.push_str(&format!("#   {}\n", describe_port(port)));
        }
    }
    out
}

/// The detection as JSON, for scripts.
pub fn render_json(d: &Detection) -> serde_json::Value {
    let port = |p: &SerialPortSeen| {
        json!({
            "path": p.preferred_path(),
            "device": p.device,
            "by_id": p.by_id,
            "usb": p.usb.as_ref().map(|u| json!({
                "vendor_id": format!("{:04x}", u.vendor_id),
                "product_id": format!("{:04x}", u.product_id),
                "serial": u.serial,
                "manufacturer": u.manufacturer,
                "product": u.product,
            })),
        })
    };
    let probes: Vec<serde_json::Value> = d
        .probes
        .iter()
        .map(|p| {
            json!({
                "identifier": p.probe.identifier,
                "vendor_id": format!("{:04x}", p.probe.vendor_id),
                "product_id": format!("{:04x}", p.probe.product_id),
                "serial": p.probe.serial,
                "selector": p.probe.selector().to_string(),
                "accessible": p.probe.accessible,
                "recognised_as": p.known.map(|k| k.name),
                "note": p.known.map(|k| k.note),
                "serial_port": p.port.as_ref().map(port),
                "more_serial_ports": p.more_ports.iter().map(port).collect::<Vec<_>>(),
                "candidate_boards": p.entries.iter().map(|(_, b)| b.name.clone()).collect::<Vec<_>>(),
                "entries": p.entries.iter().map(|(_, b)| b).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut v = json!({
        "probes": probes,
        "other_serial_ports": d.other_ports.iter().map(port).collect::<Vec<_>>(),
    });
    if let Some(host) = &d.remote {
        v["remote"] = json!(host);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(identifier: &str, vid: u16, pid: u16, serial: Option<&str>) -> AttachedProbe {
        AttachedProbe { identifier: identifier.into(), vendor_id: vid, product_id: pid, serial: serial.map(Into::into), accessible: true }
    }

    fn usb_port(device: &str, by_id: Option<&str>, vid: u16, pid: u16, serial: Option<&str>) -> SerialPortSeen {
        SerialPortSeen {
            device: device.into(),
            by_id: by_id.map(Into::into),
            usb: Some(UsbIds { vendor_id: vid, product_id: pid, serial: serial.map(Into::into), manufacturer: Some("Maker".into()), product: Some("Thing".into()) }),
        }
    }

    #[test]
    fn known_probes_are_recognised_by_ids_or_name() {
        let name = |p: &AttachedProbe| recognise(p).map(|k| k.name);
        assert_eq!(name(&probe("STLink V2-1", 0x0483, 0x374b, None)), Some("ST-LINK/V2-1"));
        assert_eq!(name(&probe("STLink V3", 0x0483, 0x374e, None)), Some("STLINK-V3E"));
        assert_eq!(name(&probe("STLink V3", 0x0483, 0x374f, None)), Some("STLINK-V3"));
        assert_eq!(name(&probe("J-Link", 0x1366, 0x1051, None)), Some("SEGGER J-Link"));
        assert_eq!(name(&probe("J-Link", 0x1366, 0x0101, None)), Some("SEGGER J-Link"));
        assert_eq!(name(&probe("Debug Probe (CMSIS-DAP)", 0x2e8a, 0x000c, None)), Some("Raspberry Pi Debug Probe"));
        assert_eq!(name(&probe("DAPLink CMSIS-DAP", 0x0d28, 0x0204, None)), Some("CMSIS-DAP probe"));
        assert_eq!(name(&probe("FTDI", 0x0403, 0x6010, None)), None);
        assert_eq!(name(&probe("STLink", 0x0483, 0x5740, None)), None, "an ST id that is no probe");
    }

    #[test]
    fn every_template_board_named_by_a_known_probe_exists() {
        let names: Vec<String> = entry_blocks(REAL_BOARDS_YAML).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["nucleo-l4r5zi", "stm32f746g-disco", "nucleo-h743zi", "nrf52840-dk", "rp-pico"]);
        for k in KNOWN_PROBES {
            for b in k.boards {
                assert!(names.iter().any(|n| n == b), "{} names a board '{b}' that boards.real.yaml lacks", k.name);
            }
        }
    }

    #[test]
    fn an_st_link_gives_one_entry_per_board_it_may_sit_on_with_its_selector_and_port() {
        let seen = Seen {
            probes: vec![probe("STLink V2-1", 0x0483, 0x374b, Some("066DFF535254"))],
            ports: vec![
                usb_port("/dev/ttyACM0", Some("/dev/serial/by-id/usb-STMicroelectronics_STM32_STLink_066DFF535254-if02"), 0x0483, 0x374b, Some("066DFF535254")),
                usb_port("/dev/ttyUSB0", None, 0x0403, 0x6001, Some("A10K")),
            ],
        };
        let d = detect(&seen, REAL_BOARDS_YAML).unwrap();
        let p = &d.probes[0];
        assert_eq!(p.port.as_ref().unwrap().device, "/dev/ttyACM0");
        let names: Vec<&str> = p.entries.iter().map(|(_, b)| b.name.as_str()).collect();
        assert_eq!(names, ["nucleo-l4r5zi", "stm32f746g-disco", "nucleo-h743zi"]);
        for (text, board) in &p.entries {
            let settings = board.probe.as_ref().unwrap();
            assert_eq!(settings.selector.as_deref(), Some("0483:374b:066DFF535254"), "{text}");
            assert_eq!(board.serial.port.as_deref(), Some("/dev/serial/by-id/usb-STMicroelectronics_STM32_STLink_066DFF535254-if02"));
            assert!(!text.contains("REPLACE"), "{text}");
        }
        // The template's comments and hexadecimal memory map are kept.
        let (l4, board) = &p.entries[0];
        assert!(l4.contains("clock_hz: 120000000         # MSI 4 MHz -> PLL"), "{l4}");
        assert!(l4.contains("flash: { origin: 0x08000000, size: 0x200000 }"), "{l4}");
        assert!(l4.contains("selector: \"0483:374b:066DFF535254\" }   # ST-LINK/V2-1"), "{l4}");
        assert!(l4.contains("serial: { port: /dev/serial/by-id/usb-STMicroelectronics_STM32_STLink_066DFF535254-if02, baud: 115200 }   # LPUART1"), "{l4}");
        assert_eq!(board.probe.as_ref().unwrap().chip, "STM32L4R5ZITx");
        // The FTDI adapter belongs to no probe.
        assert_eq!(d.other_ports.len(), 1);

        let yaml = render_yaml(&d);
        assert!(yaml.contains("# probe 1: ST-LINK/V2-1 (0483:374b:066DFF535254), probe-rs calls it \"STLink V2-1\""), "{yaml}");
        assert!(yaml.contains("does not say which board it sits on"), "{yaml}");
        assert!(yaml.contains("#   /dev/ttyUSB0 0403:6001 Maker Thing, serial A10K"), "{yaml}");
        // The whole output is a boards file (the alternatives are all valid entries).
        let parsed = BoardsFile::parse(&yaml, Path::new("detect.yaml")).unwrap();
        assert_eq!(parsed.boards.len(), 3);
    }

    #[test]
    fn two_probes_of_one_kind_get_distinct_names_and_their_own_ports() {
        let seen = Seen {
            probes: vec![probe("Debug Probe (CMSIS-DAP)", 0x2e8a, 0x000c, Some("E66")), probe("Debug Probe (CMSIS-DAP)", 0x2e8a, 0x000c, Some("F77"))],
            ports: vec![
                usb_port("/dev/ttyACM1", None, 0x2e8a, 0x000c, Some("F77")),
                usb_port("/dev/ttyACM0", None, 0x2e8a, 0x000c, Some("E66")),
            ],
        };
        let d = detect(&seen, REAL_BOARDS_YAML).unwrap();
        let entry = |i: usize| &d.probes[i].entries[0].1;
        assert_eq!((entry(0).name.as_str(), entry(1).name.as_str()), ("rp-pico", "rp-pico-2"));
        assert_eq!(entry(0).serial.port.as_deref(), Some("/dev/ttyACM0"));
        assert_eq!(entry(1).serial.port.as_deref(), Some("/dev/ttyACM1"));
        assert_eq!(entry(1).probe.as_ref().unwrap().selector.as_deref(), Some("2e8a:000c:F77"));
        assert!(d.other_ports.is_empty());
        assert_eq!(BoardsFile::parse(&render_yaml(&d), Path::new("d.yaml")).unwrap().boards.len(), 2);
    }

    #[test]
    fn a_jlink_keeps_its_own_product_id_and_unknown_probes_get_advice_not_entries() {
        let mut mystery = probe("Mystery", 0x1234, 0x5678, None);
        mystery.accessible = false;
        let seen = Seen { probes: vec![probe("J-Link", 0x1366, 0x1051, Some("001050012345")), mystery], ports: vec![] };
        let d = detect(&seen, REAL_BOARDS_YAML).unwrap();
        let nrf = &d.probes[0].entries[0].1;
        assert_eq!(nrf.name, "nrf52840-dk");
        assert_eq!(nrf.probe.as_ref().unwrap().selector.as_deref(), Some("1366:1051:001050012345"));
        // No port seen: the template's placeholder stays, and the comment says so.
        assert!(nrf.serial.port.as_deref().unwrap().contains("REPLACE"));
        assert!(d.probes[1].entries.is_empty());
        let yaml = render_yaml(&d);
        assert!(yaml.contains("no serial port of its own was seen"), "{yaml}");
        assert!(yaml.contains("# probe 2: unrecognised probe (1234:5678), probe-rs calls it \"Mystery\""), "{yaml}");
        assert!(yaml.contains("selector: \"1234:5678\" }"), "{yaml}");
        assert!(yaml.contains("it reports no serial number"), "{yaml}");
        assert_eq!(yaml.matches("permission denied").count(), 1, "only the probe this user may not open: {yaml}");
        assert!(yaml.contains("the two cannot be told apart"), "{yaml}");
    }

    #[test]
    fn json_lists_probes_ports_and_entries() {
        let seen = Seen {
            probes: vec![probe("STLink V3", 0x0483, 0x374e, Some("0030"))],
            ports: vec![
                usb_port("/dev/ttyACM0", Some("/dev/serial/by-id/a"), 0x0483, 0x374e, Some("0030")),
                usb_port("/dev/ttyACM1", Some("/dev/serial/by-id/b"), 0x0483, 0x374e, Some("0030")),
            ],
        };
        let v = render_json(&detect(&seen, REAL_BOARDS_YAML).unwrap());
        let p = &v["probes"][0];
        assert_eq!(p["selector"], "0483:374e:0030");
        assert_eq!(p["recognised_as"], "STLINK-V3E");
        assert_eq!(p["accessible"], true);
        assert_eq!(p["serial_port"]["path"], "/dev/serial/by-id/a");
        assert_eq!(p["more_serial_ports"][0]["device"], "/dev/ttyACM1");
        assert_eq!(p["candidate_boards"], json!(["nucleo-h743zi"]));
        assert_eq!(p["entries"][0]["probe"]["chip"], "STM32H743ZITx");
        assert_eq!(p["entries"][0]["serial"]["port"], "/dev/serial/by-id/a");
        assert_eq!(v["other_serial_ports"], json!([]));
    }

    #[test]
    fn nothing_seen_says_so() {
        let d = detect(&Seen::default(), REAL_BOARDS_YAML).unwrap();
        assert!(d.is_empty());
        assert!(render_yaml(&d).contains("no probes or serial ports found"));
        assert_eq!(render_json(&d), json!({ "probes": [], "other_serial_ports": [] }));
    }

    #[test]
    fn by_id_links_are_resolved_to_their_devices() {
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join("ttyACM7");
        std::fs::write(&dev, "").unwrap();
        let links = dir.path().join("by-id");
        std::fs::create_dir(&links).unwrap();
        std::os::unix::fs::symlink("../ttyACM7", links.join("usb-SEGGER_J-Link_000683-if00")).unwrap();
        let found = by_id_links(&links);
        assert_eq!(found, vec![(links.join("usb-SEGGER_J-Link_000683-if00"), std::fs::canonicalize(&dev).unwrap())]);
        assert!(by_id_links(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn values_are_replaced_up_to_the_next_field_or_comment() {
        let line = "    serial: { port: /dev/serial/by-id/REPLACE-X, baud: 115200 }   # UART\n";
        assert_eq!(replace_value(line, "{ port: ", "/dev/ttyACM0"), "    serial: { port: /dev/ttyACM0, baud: 115200 }   # UART\n");
        let sel = "    probe: { chip: RP2040, selector: \"2e8a:000c:REPLACE\" }   # Debug Probe\n";
        assert_eq!(replace_value(sel, "selector: ", "\"2e8a:000c:E6\""), "    probe: { chip: RP2040, selector: \"2e8a:000c:E6\" }   # Debug Probe\n");
        assert_eq!(replace_value("  - name: rp-pico\n", "- name: ", "rp-pico-2"), "  - name: rp-pico-2\n");
        assert_eq!(replace_value("    support: rp-pico\n", "{ port: ", "/dev/x"), "    support: rp-pico\n", "support: is no port");
        assert_eq!(replace_value("    serial: { port: /dev/a }\n", "{ port: ", "/dev/b"), "    serial: { port: /dev/b }\n");
    }
}
