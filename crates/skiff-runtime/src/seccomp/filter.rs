//! A compiled filter: the BPF program libseccomp generated, and the seccomp(2) flags to load it with.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::{FromRawFd, OwnedFd};

use libseccomp::ScmpFilterContext;

use super::SeccompError;

/// The kernel's limit on the length of a classic BPF program (`BPF_MAXINSNS`).
const BPF_MAXINSNS: usize = 4096;

/// Size of one `struct sock_filter` instruction as libseccomp exports it.
const INSN_SIZE: usize = std::mem::size_of::<libc::sock_filter>();

/// A compiled seccomp filter, ready to be loaded by the container process just before execve.
///
/// It holds the finished BPF program rather than a libseccomp context, so that loading it is a
/// single seccomp(2) call: no allocation and no libseccomp code runs in the container process,
/// which may have been forked from a multi-threaded runtime. It is plain data (`Send`, `Sync`,
/// `Clone`), so it can be compiled on any thread before the container process is created.
#[derive(Clone)]
pub struct Filter {
    program: Vec<libc::sock_filter>,
    /// `SECCOMP_FILTER_FLAG_*` bits from `linux.seccomp.flags`.
    flags: libc::c_ulong,
}

impl Filter {
    /// Turns a finished libseccomp context into a loadable program.
    pub(super) fn from_context(
        ctx: &ScmpFilterContext,
        flags: libc::c_ulong,
    ) -> Result<Self, SeccompError> {
        let bytes = export_bpf(ctx)?;
        Self::from_bytes(&bytes, flags)
    }

    /// A filter from a BPF program as libseccomp exports it (8-byte `sock_filter`s).
    pub(super) fn from_bytes(bytes: &[u8], flags: libc::c_ulong) -> Result<Self, SeccompError> {
        if bytes.len() % INSN_SIZE != 0 {
            return Err(SeccompError::ExportBpf {
                source: io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} bytes is not a whole number of instructions",
                        bytes.len()
                    ),
                ),
            });
        }
        let program: Vec<libc::sock_filter> = bytes
            .chunks_exact(INSN_SIZE)
            .map(|insn| libc::sock_filter {
                code: u16::from_ne_bytes([insn[0], insn[1]]),
                jt: insn[2],
                jf: insn[3],
                k: u32::from_ne_bytes([insn[4], insn[5], insn[6], insn[7]]),
            })
            .collect();
        if program.is_empty() || program.len() > BPF_MAXINSNS {
            return Err(SeccompError::ProgramTooLong {
                instructions: program.len(),
                max: BPF_MAXINSNS,
            });
        }
        Ok(Self { program, flags })
    }

    /// The program as bytes and the flags, for the on-disk cache.
    pub(super) fn to_bytes(&self) -> (Vec<u8>, libc::c_ulong) {
        let mut out = Vec::with_capacity(self.program.len() * INSN_SIZE);
        for insn in &self.program {
            out.extend_from_slice(&insn.code.to_ne_bytes());
            out.push(insn.jt);
            out.push(insn.jf);
            out.extend_from_slice(&insn.k.to_ne_bytes());
        }
        (out, self.flags)
    }

    /// Loads the filter into the calling thread (seccomp(2) with the spec's flags). Called in the
    /// single-threaded container process after no_new_privs / capabilities are set.
    ///
    /// The kernel accepts the filter only if the thread has no_new_privs set or holds
    /// CAP_SYS_ADMIN; this function does not set no_new_privs itself. It does not allocate, so
    /// it is safe to call in a child forked from a multi-threaded process.
    pub fn load(&self) -> Result<(), SeccompError> {
        let prog = libc::sock_fprog {
            // from_context guarantees 1..=BPF_MAXINSNS instructions, which fits in u16.
            len: self.program.len() as libc::c_ushort,
            filter: self.program.as_ptr().cast_mut(),
        };
        // SAFETY: `prog` points to `self.program`, which outlives the call; the kernel only
        // reads (copies) the program.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                self.flags,
                &prog as *const libc::sock_fprog,
            )
        };
        match rc {
            0 => Ok(()),
            #[allow(clippy::useless_conversion)] // c_long is i32 on 32-bit targets
            thread if thread > 0 => Err(SeccompError::TsyncFailed {
                thread: i64::from(thread),
            }),
            _ => Err(SeccompError::Load {
                source: io::Error::last_os_error(),
            }),
        }
    }

    /// Number of BPF instructions in the program.
    #[cfg(test)]
    pub(super) fn instructions(&self) -> usize {
        self.program.len()
    }
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter")
            .field("instructions", &self.program.len())
            .field("flags", &format_args!("{:#x}", self.flags))
            .finish()
    }
}

/// Has libseccomp generate the BPF program into an in-memory file and reads it back.
///
/// libseccomp 2.5 has no export-to-memory call (`seccomp_export_bpf_mem` is 2.6), hence the
/// memfd; unlike a pipe it cannot fill up and block on a large program.
fn export_bpf(ctx: &ScmpFilterContext) -> Result<Vec<u8>, SeccompError> {
    let export_error = |source| SeccompError::ExportBpf { source };
    // SAFETY: the name is a valid NUL-terminated string; the flags are valid.
    let fd = unsafe { libc::memfd_create(c"skiff-seccomp-bpf".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(export_error(io::Error::last_os_error()));
    }
    // SAFETY: `fd` was just created and is owned by nothing else.
    let mut file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    ctx.export_bpf(&file)
        .map_err(|source| SeccompError::Libseccomp {
            operation: "seccomp_export_bpf",
            source,
        })?;
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0)).map_err(export_error)?;
    file.read_to_end(&mut bytes).map_err(export_error)?;
    Ok(bytes)
}
