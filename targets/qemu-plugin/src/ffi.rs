//! Glue to QEMU's plugin C API (resolved against the QEMU binary at load).
//!
//! Nothing here may panic: a panic in an `extern "C"` function aborts QEMU.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::{Mutex, MutexGuard, OnceLock};

use qemu_plugin_sys as sys;
use sys::qemu_plugin_cb_flags::QEMU_PLUGIN_CB_NO_REGS;
use sys::qemu_plugin_op::QEMU_PLUGIN_INLINE_ADD_U64;

use crate::logic::{decode_marker, parse_args, Line, Marker, Windows, PLUGIN_NAME};

/// Plugin API version this plugin is built against (QEMU 10.0 accepts 2..=4).
#[no_mangle]
pub static qemu_plugin_version: c_int = sys::QEMU_PLUGIN_VERSION as c_int;

struct Plugin {
    /// Per-vCPU u64 instruction counter (scoreboard owned by QEMU).
    counter: sys::qemu_plugin_u64,
    state: Mutex<State>,
}

// SAFETY: `counter` is an opaque handle that is only ever passed back to
// QEMU's scoreboard API, which is safe to call from any vCPU thread.
unsafe impl Send for Plugin {}
unsafe impl Sync for Plugin {}

struct State {
    out: File,
    windows: Windows,
    write_error_reported: bool,
}

impl State {
    /// Writes one whole line with a single write(2) on an unbuffered file, so
    /// a reader tailing the file sees it at once and never half a line.
    fn emit(&mut self, line: &Line) {
        let text = line.to_string();
        let result = self
            .out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.flush());
        if let Err(err) = result {
            if !self.write_error_reported {
                self.write_error_reported = true;
                eprintln!("{PLUGIN_NAME}: cannot write to outfile: {err}");
            }
        }
    }
}

static PLUGIN: OnceLock<Plugin> = OnceLock::new();

fn lock(plugin: &Plugin) -> MutexGuard<'_, State> {
    plugin
        .state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Called by QEMU when the plugin is loaded. Returns 0 on success; any other
/// value makes QEMU refuse to start.
///
/// # Safety
/// Called by QEMU only, with `argv` holding `argc` valid C strings.
#[no_mangle]
pub unsafe extern "C" fn qemu_plugin_install(
    id: sys::qemu_plugin_id_t,
    info: *const sys::qemu_info_t,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    match install(id, info, argc, argv) {
        Ok(()) => 0,
        Err(msg) => {
            eprintln!("{PLUGIN_NAME}: {msg}");
            -1
        }
    }
}

unsafe fn install(
    id: sys::qemu_plugin_id_t,
    info: *const sys::qemu_info_t,
    argc: c_int,
    argv: *const *const c_char,
) -> Result<(), String> {
    let mut args = Vec::new();
    if !argv.is_null() {
        for i in 0..argc.max(0) as usize {
            let arg = *argv.add(i);
            if !arg.is_null() {
                args.push(CStr::from_ptr(arg).to_string_lossy().into_owned());
            }
        }
    }
    let config = parse_args(&args)?;

    if !info.is_null() && !(*info).target_name.is_null() {
        let target = CStr::from_ptr((*info).target_name).to_string_lossy();
        if !target.starts_with("arm") && !target.starts_with("aarch64") {
            eprintln!(
                "{PLUGIN_NAME}: warning: target '{target}' is not Arm; the dbg #1/#2 markers are Thumb-2 encodings"
            );
        }
    }

    let out = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&config.outfile)
        .map_err(|err| format!("cannot open outfile '{}': {err}", config.outfile.display()))?;

    let score = sys::qemu_plugin_scoreboard_new(std::mem::size_of::<u64>());
    if score.is_null() {
        return Err("qemu_plugin_scoreboard_new failed".into());
    }
    let plugin = Plugin {
        counter: sys::qemu_plugin_u64 { score, offset: 0 },
        state: Mutex::new(State {
            out,
            windows: Windows::new(),
            write_error_reported: false,
        }),
    };
    if PLUGIN.set(plugin).is_err() {
        sys::qemu_plugin_scoreboard_free(score);
        return Err("plugin loaded twice into the same QEMU process".into());
    }

    sys::qemu_plugin_register_vcpu_tb_trans_cb(id, Some(on_tb_trans));
    sys::qemu_plugin_register_atexit_cb(id, Some(on_exit), std::ptr::null_mut());
    Ok(())
}

/// Instruments a freshly translated block: every instruction gets an inline
/// `counter += 1`, except markers, which get a callback that does the count
/// itself (see [`on_marker`]).
unsafe extern "C" fn on_tb_trans(_id: sys::qemu_plugin_id_t, tb: *mut sys::qemu_plugin_tb) {
    let Some(plugin) = PLUGIN.get() else { return };
    let n = sys::qemu_plugin_tb_n_insns(tb);
    for i in 0..n {
        let insn = sys::qemu_plugin_tb_get_insn(tb, i);
        let mut bytes = [0u8; 4];
        let len = if sys::qemu_plugin_insn_size(insn) == bytes.len() {
            sys::qemu_plugin_insn_data(insn, bytes.as_mut_ptr().cast(), bytes.len())
        } else {
            0
        };
        match decode_marker(&bytes[..len.min(bytes.len())]) {
            Some(marker) => sys::qemu_plugin_register_vcpu_insn_exec_cb(
                insn,
                Some(on_marker),
                QEMU_PLUGIN_CB_NO_REGS,
                marker.to_tag() as *mut c_void,
            ),
            None => sys::qemu_plugin_register_vcpu_insn_exec_inline_per_vcpu(
                insn,
                QEMU_PLUGIN_INLINE_ADD_U64,
                plugin.counter,
                1,
            ),
        }
    }
}

/// Runs when a marker instruction executes, before it retires. The counter
/// then holds the instructions executed before the marker; the marker counts
/// itself here, since it has no inline add.
unsafe extern "C" fn on_marker(vcpu: c_uint, userdata: *mut c_void) {
    let Some(plugin) = PLUGIN.get() else { return };
    let Some(marker) = Marker::from_tag(userdata as usize) else {
        return;
    };
    let before = sys::qemu_plugin_u64_get(plugin.counter, vcpu);
    sys::qemu_plugin_u64_add(plugin.counter, vcpu, 1);
    let mut state = lock(plugin);
    match marker {
        Marker::Start => state.windows.start(vcpu as usize, before),
        Marker::End => {
            let line = state.windows.end(vcpu as usize, before);
            state.emit(&line);
        }
    }
}

/// Runs once when QEMU exits (guest semihosting exit, SIGTERM/SIGINT, `quit`).
unsafe extern "C" fn on_exit(_id: sys::qemu_plugin_id_t, _userdata: *mut c_void) {
    let Some(plugin) = PLUGIN.get() else { return };
    let total = sys::qemu_plugin_u64_sum(plugin.counter);
    lock(plugin).emit(&Line::Total { count: total });
}
