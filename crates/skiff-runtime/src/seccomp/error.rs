//! Errors of the seccomp module: each one names the spec field at fault and what to change.

use std::io;
use std::path::PathBuf;

use oci_spec::runtime::{Arch, LinuxSeccompFilterFlag, LinuxSeccompOperator};

/// libseccomp's error type, renamed so it does not clash with [`SeccompError`].
type LibseccompError = libseccomp::error::SeccompError;

/// Why a `linux.seccomp` section could not be compiled, or a compiled filter not loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeccompError {
    /// `listenerPath` asks for a seccomp agent, which this runtime does not have.
    #[error(
        "linux.seccomp.listenerPath: seccomp user notification is not supported \
         (no seccomp agent); remove listenerPath {path:?} and any SCMP_ACT_NOTIFY action"
    )]
    ListenerUnsupported {
        /// The listener socket path given in the spec.
        path: PathBuf,
    },

    /// An action is `SCMP_ACT_NOTIFY`, which needs a seccomp agent.
    #[error(
        "{field}: SCMP_ACT_NOTIFY is not supported (no seccomp agent); use SCMP_ACT_ERRNO, \
         SCMP_ACT_LOG or SCMP_ACT_KILL_PROCESS instead"
    )]
    NotifyUnsupported {
        /// `linux.seccomp.defaultAction` or `linux.seccomp.syscalls[i].action`.
        field: String,
    },

    /// An errno or trace value does not fit the 16 data bits of a seccomp return value.
    #[error(
        "{field}: {value} does not fit in the 16 bits seccomp returns; use a value up to 65535"
    )]
    ActionDataOutOfRange {
        /// `linux.seccomp.defaultErrnoRet` or `linux.seccomp.syscalls[i].errnoRet`.
        field: String,
        /// The value given in the spec.
        value: u32,
    },

    /// A flag that this runtime cannot honour.
    #[error(
        "linux.seccomp.flags[{index}]: {flag} is not supported (it only applies to seccomp \
         user notification, which needs an agent); remove it"
    )]
    UnsupportedFlag {
        /// Position of the flag in `linux.seccomp.flags`.
        index: usize,
        /// The flag given in the spec.
        flag: LinuxSeccompFilterFlag,
    },

    /// The linked libseccomp does not support an architecture.
    #[error(
        "linux.seccomp.architectures[{index}]: architecture {arch} is not supported by the \
         installed libseccomp ({source}); remove it from the list"
    )]
    UnsupportedArch {
        /// Position of the architecture in `linux.seccomp.architectures`.
        index: usize,
        /// The architecture given in the spec.
        arch: Arch,
        /// What libseccomp said.
        source: LibseccompError,
    },

    /// A syscall name that libseccomp does not know on any of the filter's architectures.
    #[error(
        "linux.seccomp.syscalls[{rule}].names[{name_index}]: unknown syscall {name:?}; check the \
         spelling, or remove it if it is newer than the installed libseccomp"
    )]
    UnknownSyscall {
        /// Position of the rule in `linux.seccomp.syscalls`.
        rule: usize,
        /// Position of the name in the rule's `names`.
        name_index: usize,
        /// The name given in the spec.
        name: String,
    },

    /// A syscall argument index outside 0..=5.
    #[error(
        "linux.seccomp.syscalls[{rule}].args[{arg}].index: {index} is out of range; syscall \
         arguments are numbered 0 to 5"
    )]
    ArgIndexOutOfRange {
        /// Position of the rule in `linux.seccomp.syscalls`.
        rule: usize,
        /// Position of the argument in the rule's `args`.
        arg: usize,
        /// The index given in the spec.
        index: usize,
    },

    /// `valueTwo` given with an operator that ignores it.
    #[error(
        "linux.seccomp.syscalls[{rule}].args[{arg}].valueTwo: {op} does not use valueTwo (only \
         SCMP_CMP_MASKED_EQ does, as the value compared after masking with value); remove it"
    )]
    ValueTwoUnused {
        /// Position of the rule in `linux.seccomp.syscalls`.
        rule: usize,
        /// Position of the argument in the rule's `args`.
        arg: usize,
        /// The operator given in the spec.
        op: LinuxSeccompOperator,
    },

    /// libseccomp refused a rule, e.g. because it conflicts with an earlier rule.
    #[error(
        "linux.seccomp.syscalls[{rule}].names[{name_index}]: libseccomp refused the rule for \
         {name:?} ({source}); check it against the other rules for the same syscall"
    )]
    AddRule {
        /// Position of the rule in `linux.seccomp.syscalls`.
        rule: usize,
        /// Position of the name in the rule's `names`.
        name_index: usize,
        /// The syscall name.
        name: String,
        /// What libseccomp said.
        source: LibseccompError,
    },

    /// A libseccomp call that does not depend on the spec failed (out of memory, or an old kernel).
    #[error("libseccomp {operation} failed: {source}")]
    Libseccomp {
        /// The libseccomp operation, e.g. `seccomp_init`.
        operation: &'static str,
        /// What libseccomp said.
        source: LibseccompError,
    },

    /// Reading back the BPF program from libseccomp failed.
    #[error("exporting the compiled seccomp BPF program failed: {source}")]
    ExportBpf {
        /// The I/O error on the in-memory file the program is written to.
        source: io::Error,
    },

    /// The compiled program exceeds the kernel's limit of instructions.
    #[error(
        "the compiled seccomp filter has {instructions} BPF instructions, more than the kernel \
         accepts ({max}); list fewer syscalls or merge rules"
    )]
    ProgramTooLong {
        /// Length of the compiled program.
        instructions: usize,
        /// The kernel's limit (`BPF_MAXINSNS`).
        max: usize,
    },

    /// seccomp(2) refused the filter.
    #[error(
        "loading the seccomp filter failed: {source}; the process needs no_new_privs set or \
         CAP_SYS_ADMIN (EACCES), and a kernel supporting the requested linux.seccomp.flags (EINVAL)"
    )]
    Load {
        /// The errno of seccomp(2).
        source: io::Error,
    },

    /// With `SECCOMP_FILTER_FLAG_TSYNC`, another thread could not be synchronized.
    #[error(
        "loading the seccomp filter failed: thread {thread} could not be synchronized \
         (SECCOMP_FILTER_FLAG_TSYNC); it runs a different seccomp filter"
    )]
    TsyncFailed {
        /// The thread id the kernel reported.
        thread: i64,
    },
}
