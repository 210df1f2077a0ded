//! Compiles an OCI `linux.seccomp` section into a BPF program with libseccomp.
//!
//! Semantics follow runc where the runtime spec leaves room: rules whose action equals the
//! default action are skipped, a name libseccomp knows but that exists on none of the filter's
//! architectures adds nothing, several conditions on the same argument become separate rules
//! (OR) while conditions on distinct arguments form one rule (AND), and errno/trace values
//! default to EPERM.

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};

use super::{Filter, SeccompError};

/// Syscalls take at most six arguments.
const MAX_ARGS: usize = 6;

/// Compiles the spec's `linux.seccomp` section. Errors name the field, e.g.
/// `linux.seccomp.syscalls[3].names[1]: unknown syscall "opne"`.
///
/// Compile once in the runtime and [`Filter::load`] it in the container process: compiling
/// allocates and calls into libseccomp, loading does neither.
pub fn compile(seccomp: &LinuxSeccomp) -> Result<Filter, SeccompError> {
    if let Some(path) = seccomp.listener_path() {
        return Err(SeccompError::ListenerUnsupported { path: path.clone() });
    }
    let default_action = action(
        seccomp.default_action(),
        seccomp.default_errno_ret(),
        Site::Default,
    )?;
    let flags = filter_flags(seccomp.flags().as_deref().unwrap_or_default())?;

    let libseccomp = |operation| move |source| SeccompError::Libseccomp { operation, source };
    let mut ctx = ScmpFilterContext::new(default_action).map_err(libseccomp("seccomp_init"))?;
    // The runtime sets no_new_privs itself, as process.noNewPrivileges says; libseccomp must
    // not force it. These attributes only matter to libseccomp's own load, which we do not
    // use (see Filter), but they keep the context truthful.
    ctx.set_ctl_nnp(false)
        .map_err(libseccomp("seccomp_attr_set(SCMP_FLTATR_CTL_NNP)"))?;
    if flags & libc::SECCOMP_FILTER_FLAG_TSYNC != 0 {
        ctx.set_ctl_tsync(true)
            .map_err(libseccomp("seccomp_attr_set(SCMP_FLTATR_CTL_TSYNC)"))?;
    }

    let arches = add_architectures(&mut ctx, seccomp.architectures().as_deref())?;
    for (index, rule) in seccomp.syscalls().iter().flatten().enumerate() {
        add_rule(&mut ctx, index, rule, default_action, &arches)?;
    }
    Filter::from_context(&ctx, flags)
}

/// Where an action was written, to name the field in errors.
#[derive(Clone, Copy)]
enum Site {
    Default,
    Rule(usize),
}

impl Site {
    fn action_field(self) -> String {
        match self {
            Site::Default => "linux.seccomp.defaultAction".to_owned(),
            Site::Rule(i) => format!("linux.seccomp.syscalls[{i}].action"),
        }
    }

    fn errno_field(self) -> String {
        match self {
            Site::Default => "linux.seccomp.defaultErrnoRet".to_owned(),
            Site::Rule(i) => format!("linux.seccomp.syscalls[{i}].errnoRet"),
        }
    }
}

/// Maps an OCI action to libseccomp's; errno and trace values default to EPERM as in runc.
/// `errno_ret` is ignored for actions that carry no value, as other runtimes do.
fn action(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    site: Site,
) -> Result<ScmpAction, SeccompError> {
    let data = || -> Result<u16, SeccompError> {
        match errno_ret {
            None => Ok(libc::EPERM as u16),
            Some(value) => u16::try_from(value).map_err(|_| SeccompError::ActionDataOutOfRange {
                field: site.errno_field(),
                value,
            }),
        }
    };
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(i32::from(data()?)),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(data()?),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(SeccompError::NotifyUnsupported {
                field: site.action_field(),
            })
        }
    })
}

/// The seccomp(2) flags for `linux.seccomp.flags`.
fn filter_flags(flags: &[LinuxSeccompFilterFlag]) -> Result<libc::c_ulong, SeccompError> {
    flags
        .iter()
        .enumerate()
        .try_fold(0, |bits, (index, &flag)| match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => {
                Ok(bits | libc::SECCOMP_FILTER_FLAG_TSYNC)
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => {
                Ok(bits | libc::SECCOMP_FILTER_FLAG_LOG)
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                Ok(bits | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW)
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                Err(SeccompError::UnsupportedFlag { index, flag })
            }
        })
}

/// Adds the spec's architectures and returns all the filter's architectures (native first).
fn add_architectures(
    ctx: &mut ScmpFilterContext,
    arches: Option<&[Arch]>,
) -> Result<Vec<ScmpArch>, SeccompError> {
    let mut all = vec![ScmpArch::native()];
    for (index, &arch) in arches.unwrap_or_default().iter().enumerate() {
        let scmp = scmp_arch(arch);
        // libseccomp rejects architectures it was built without (EINVAL); an architecture
        // already present, such as the native one, is accepted.
        ctx.add_arch(scmp)
            .map_err(|source| SeccompError::UnsupportedArch {
                index,
                arch,
                source,
            })?;
        let scmp = if scmp == ScmpArch::Native {
            ScmpArch::native()
        } else {
            scmp
        };
        if !all.contains(&scmp) {
            all.push(scmp);
        }
    }
    Ok(all)
}

fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

/// How libseccomp knows a syscall name.
enum Resolved {
    /// A number for the native architecture (possibly a libseccomp pseudo-number that
    /// libseccomp translates per architecture and drops where the syscall does not exist).
    Native(ScmpSyscall),
    /// Known on some other filter architecture only: nothing to add, as runc does.
    Foreign,
    /// Not known on any of the filter's architectures: a typo, or newer than libseccomp.
    Unknown,
}

fn resolve(name: &str, arches: &[ScmpArch]) -> Resolved {
    if let Ok(syscall) = ScmpSyscall::from_name(name) {
        Resolved::Native(syscall)
    } else if arches
        .iter()
        .any(|&arch| ScmpSyscall::from_name_by_arch(name, arch).is_ok())
    {
        Resolved::Foreign
    } else {
        Resolved::Unknown
    }
}

fn add_rule(
    ctx: &mut ScmpFilterContext,
    index: usize,
    rule: &LinuxSyscall,
    default_action: ScmpAction,
    arches: &[ScmpArch],
) -> Result<(), SeccompError> {
    let rule_action = action(rule.action(), rule.errno_ret(), Site::Rule(index))?;
    let args = rule.args().as_deref().unwrap_or_default();
    let conditions = conditions(index, args)?;
    let one_rule_per_condition = has_repeated_index(args);
    // libseccomp refuses rules that repeat the default action; they would change nothing.
    // Their names are still checked, so a typo is reported whatever the action.
    let redundant = rule_action == default_action;
    for (name_index, name) in rule.names().iter().enumerate() {
        let syscall = match resolve(name, arches) {
            Resolved::Native(syscall) => syscall,
            Resolved::Foreign => continue,
            Resolved::Unknown => {
                return Err(SeccompError::UnknownSyscall {
                    rule: index,
                    name_index,
                    name: name.clone(),
                })
            }
        };
        if redundant {
            continue;
        }
        let added = if conditions.is_empty() {
            ctx.add_rule(rule_action, syscall).map(drop)
        } else if one_rule_per_condition {
            // libseccomp refuses two comparisons of one argument in a rule; runc adds one
            // rule per comparison instead, so any of them matching applies the action.
            conditions.iter().try_for_each(|cond| {
                ctx.add_rule_conditional(rule_action, syscall, std::slice::from_ref(cond))
                    .map(drop)
            })
        } else {
            ctx.add_rule_conditional(rule_action, syscall, &conditions)
                .map(drop)
        };
        added.map_err(|source| SeccompError::AddRule {
            rule: index,
            name_index,
            name: name.clone(),
            source,
        })?;
    }
    Ok(())
}

fn conditions(rule: usize, args: &[LinuxSeccompArg]) -> Result<Vec<ScmpArgCompare>, SeccompError> {
    args.iter()
        .enumerate()
        .map(|(arg, spec)| {
            let index = spec.index();
            if index >= MAX_ARGS {
                return Err(SeccompError::ArgIndexOutOfRange { rule, arg, index });
            }
            let op = spec.op();
            // For SCMP_CMP_MASKED_EQ, `value` is the mask and `valueTwo` the expected result
            // (runc's reading); other operators compare against `value` alone.
            let (op, datum) = match op {
                LinuxSeccompOperator::ScmpCmpMaskedEq => (
                    ScmpCompareOp::MaskedEqual(spec.value()),
                    spec.value_two().unwrap_or(0),
                ),
                _ if spec.value_two().is_some_and(|v| v != 0) => {
                    return Err(SeccompError::ValueTwoUnused { rule, arg, op });
                }
                LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, spec.value()),
                LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, spec.value()),
                LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, spec.value()),
                LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, spec.value()),
                LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, spec.value()),
                LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, spec.value()),
            };
            // index < MAX_ARGS, so it fits in u32.
            Ok(ScmpArgCompare::new(index as u32, op, datum))
        })
        .collect()
}

/// Whether two comparisons share an argument (indexes already checked to be < MAX_ARGS).
fn has_repeated_index(args: &[LinuxSeccompArg]) -> bool {
    let mut seen = [false; MAX_ARGS];
    args.iter()
        .any(|arg| std::mem::replace(&mut seen[arg.index()], true))
}
