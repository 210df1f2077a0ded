//! Tests of compile errors and of the Docker profile; loading is in `load_tests.rs`.

use std::time::{Duration, Instant};

use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
};

use super::{compile, docker_default, SeccompError};

/// The capabilities Docker grants a container by default.
pub(super) const DOCKER_DEFAULT_CAPS: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

pub(super) fn rule(names: &[&str], action: LinuxSeccompAction) -> LinuxSyscall {
    let mut call = LinuxSyscall::default();
    call.set_names(names.iter().map(|n| n.to_string()).collect());
    call.set_action(action);
    call
}

fn arg(index: usize, value: u64, op: LinuxSeccompOperator) -> LinuxSeccompArg {
    LinuxSeccompArgBuilder::default()
        .index(index)
        .value(value)
        .op(op)
        .build()
        .unwrap()
}

pub(super) fn section(default: LinuxSeccompAction, syscalls: Vec<LinuxSyscall>) -> LinuxSeccomp {
    let mut seccomp = LinuxSeccomp::default();
    seccomp.set_default_action(default);
    seccomp.set_architectures(Some(vec![
        Arch::ScmpArchX86_64,
        Arch::ScmpArchX86,
        Arch::ScmpArchX32,
    ]));
    seccomp.set_syscalls(Some(syscalls));
    seccomp
}

fn compile_err(seccomp: &LinuxSeccomp) -> SeccompError {
    compile(seccomp).expect_err("compile should fail")
}

// ---- compile errors name the field ----

#[test]
fn unknown_syscall_names_rule_and_name() {
    let seccomp = section(
        LinuxSeccompAction::ScmpActErrno,
        vec![
            rule(&["read"], LinuxSeccompAction::ScmpActAllow),
            rule(&["write"], LinuxSeccompAction::ScmpActAllow),
            rule(&["close"], LinuxSeccompAction::ScmpActAllow),
            rule(&["openat", "opne"], LinuxSeccompAction::ScmpActAllow),
        ],
    );
    let err = compile_err(&seccomp);
    assert!(matches!(
        err,
        SeccompError::UnknownSyscall {
            rule: 3,
            name_index: 1,
            ..
        }
    ));
    assert!(
        err.to_string()
            .starts_with(r#"linux.seccomp.syscalls[3].names[1]: unknown syscall "opne""#),
        "{err}"
    );
}

#[test]
fn typo_is_reported_even_in_a_rule_repeating_the_default_action() {
    let seccomp = section(
        LinuxSeccompAction::ScmpActErrno,
        vec![rule(&["mkdri"], LinuxSeccompAction::ScmpActErrno)],
    );
    assert!(matches!(
        compile_err(&seccomp),
        SeccompError::UnknownSyscall { rule: 0, .. }
    ));
}

#[test]
fn names_of_other_architectures_are_accepted() {
    // chown32 exists on x86 only, arch_prctl not on x86, s390_runtime_instr on none of these.
    let seccomp = section(
        LinuxSeccompAction::ScmpActErrno,
        vec![rule(
            &["chown32", "arch_prctl", "s390_runtime_instr", "read"],
            LinuxSeccompAction::ScmpActAllow,
        )],
    );
    compile(&seccomp).unwrap();
}

#[test]
fn unsupported_architecture_names_its_index() {
    let mut seccomp = section(LinuxSeccompAction::ScmpActAllow, vec![]);
    // LoongArch needs libseccomp 2.6; skip where the installed one has it.
    seccomp.set_architectures(Some(vec![Arch::ScmpArchX86_64, Arch::ScmpArchLoongarch64]));
    match compile(&seccomp) {
        Ok(_) => eprintln!("libseccomp supports LoongArch here; nothing to check"),
        Err(err) => {
            assert!(matches!(
                err,
                SeccompError::UnsupportedArch { index: 1, .. }
            ));
            assert!(
                err.to_string().starts_with(
                    "linux.seccomp.architectures[1]: architecture SCMP_ARCH_LOONGARCH64"
                ),
                "{err}"
            );
        }
    }
}

#[test]
fn notify_is_rejected_in_rules_and_default() {
    let seccomp = section(
        LinuxSeccompAction::ScmpActAllow,
        vec![
            rule(&["read"], LinuxSeccompAction::ScmpActLog),
            rule(&["mkdir"], LinuxSeccompAction::ScmpActNotify),
        ],
    );
    let err = compile_err(&seccomp);
    assert!(err
        .to_string()
        .starts_with("linux.seccomp.syscalls[1].action: SCMP_ACT_NOTIFY"));

    let seccomp = section(LinuxSeccompAction::ScmpActNotify, vec![]);
    let err = compile_err(&seccomp);
    assert!(err
        .to_string()
        .starts_with("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY"));

    let mut seccomp = section(LinuxSeccompAction::ScmpActAllow, vec![]);
    seccomp.set_listener_path(Some("/run/agent.sock".into()));
    assert!(matches!(
        compile_err(&seccomp),
        SeccompError::ListenerUnsupported { .. }
    ));
}

#[test]
fn argument_index_six_is_rejected() {
    let mut call = rule(&["read"], LinuxSeccompAction::ScmpActAllow);
    call.set_args(Some(vec![
        arg(0, 1, LinuxSeccompOperator::ScmpCmpEq),
        arg(6, 1, LinuxSeccompOperator::ScmpCmpEq),
    ]));
    let seccomp = section(LinuxSeccompAction::ScmpActErrno, vec![call]);
    let err = compile_err(&seccomp);
    assert!(matches!(
        err,
        SeccompError::ArgIndexOutOfRange {
            rule: 0,
            arg: 1,
            index: 6
        }
    ));
    assert!(err
        .to_string()
        .starts_with("linux.seccomp.syscalls[0].args[1].index: 6"));
}

#[test]
fn value_two_with_a_plain_operator_is_rejected() {
    let bad = super::default_profile::arg(0, 1, 5, LinuxSeccompOperator::ScmpCmpGt);
    let mut call = rule(&["read"], LinuxSeccompAction::ScmpActAllow);
    call.set_args(Some(vec![bad]));
    let err = compile_err(&section(LinuxSeccompAction::ScmpActErrno, vec![call]));
    assert!(
        err.to_string()
            .starts_with("linux.seccomp.syscalls[0].args[0].valueTwo: SCMP_CMP_GT"),
        "{err}"
    );
}

#[test]
fn unsupported_flag_names_its_index() {
    let mut seccomp = section(LinuxSeccompAction::ScmpActAllow, vec![]);
    seccomp.set_flags(Some(vec![
        LinuxSeccompFilterFlag::SeccompFilterFlagLog,
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
    ]));
    let err = compile_err(&seccomp);
    assert!(err.to_string().starts_with(
        "linux.seccomp.flags[1]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not supported"
    ));
}

#[test]
fn oversized_errno_is_rejected() {
    let mut call = rule(&["read"], LinuxSeccompAction::ScmpActErrno);
    call.set_errno_ret(Some(70_000));
    let err = compile_err(&section(LinuxSeccompAction::ScmpActAllow, vec![call]));
    assert!(err
        .to_string()
        .starts_with("linux.seccomp.syscalls[0].errnoRet: 70000"));
}

#[test]
fn operators_flags_and_repeated_arguments_compile() {
    use LinuxSeccompOperator::*;
    let masked = super::default_profile::arg(5, 0xff, 0x10, ScmpCmpMaskedEq);
    let mut call = rule(&["write"], LinuxSeccompAction::ScmpActAllow);
    // Two comparisons of argument 0 (OR, one rule each) …
    call.set_args(Some(vec![arg(0, 1, ScmpCmpEq), arg(0, 2, ScmpCmpEq)]));
    let mut many = rule(&["read"], LinuxSeccompAction::ScmpActAllow);
    // … and one comparison per argument (AND, one rule).
    many.set_args(Some(vec![
        arg(0, 1, ScmpCmpNe),
        arg(1, 1, ScmpCmpLt),
        arg(2, 1, ScmpCmpLe),
        arg(3, 1, ScmpCmpGe),
        arg(4, 1, ScmpCmpGt),
        masked,
    ]));
    let mut trace = rule(&["getpid"], LinuxSeccompAction::ScmpActTrace);
    trace.set_errno_ret(Some(7));
    // Same action as the default: skipped, not refused.
    let redundant = rule(&["mkdir"], LinuxSeccompAction::ScmpActErrno);
    let mut seccomp = section(
        LinuxSeccompAction::ScmpActErrno,
        vec![
            call,
            many,
            trace,
            redundant,
            rule(&["close"], LinuxSeccompAction::ScmpActLog),
            rule(&["kexec_load"], LinuxSeccompAction::ScmpActKillProcess),
            rule(&["acct"], LinuxSeccompAction::ScmpActKill),
            rule(&["swapon"], LinuxSeccompAction::ScmpActTrap),
        ],
    );
    seccomp.set_flags(Some(vec![
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
        LinuxSeccompFilterFlag::SeccompFilterFlagLog,
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
    ]));
    let filter = compile(&seccomp).unwrap();
    assert!(format!("{filter:?}").contains("flags: 0x7"), "{filter:?}");
}

// ---- Docker's default profile ----

fn allows_unconditionally(seccomp: &LinuxSeccomp, name: &str) -> bool {
    rules(seccomp, name).any(|call| {
        call.action() == LinuxSeccompAction::ScmpActAllow
            && call.args().as_ref().is_none_or(|args| args.is_empty())
    })
}

fn allows_with_args(seccomp: &LinuxSeccomp, name: &str) -> bool {
    rules(seccomp, name).any(|call| {
        call.action() == LinuxSeccompAction::ScmpActAllow
            && call.args().as_ref().is_some_and(|args| !args.is_empty())
    })
}

fn rules<'a>(seccomp: &'a LinuxSeccomp, name: &'a str) -> impl Iterator<Item = &'a LinuxSyscall> {
    seccomp
        .syscalls()
        .iter()
        .flatten()
        .filter(move |call| call.names().iter().any(|n| n == name))
}

#[test]
fn docker_default_with_default_caps() {
    let seccomp = docker_default(&DOCKER_DEFAULT_CAPS);
    assert_eq!(seccomp.default_action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(seccomp.default_errno_ret(), Some(1));
    if cfg!(target_arch = "x86_64") {
        assert_eq!(
            seccomp.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
        );
        assert!(allows_unconditionally(&seccomp, "arch_prctl"));
    }
    for allowed in [
        "read", "write", "openat", "execve", "mkdir", "chroot", "getpid", "pipe", "pipe2",
    ] {
        assert!(
            allows_unconditionally(&seccomp, allowed),
            "{allowed} should be allowed"
        );
    }
    for denied in [
        "mount",
        "umount2",
        "reboot",
        "unshare",
        "setns",
        "bpf",
        "kexec_load",
        "acct",
    ] {
        assert_eq!(
            rules(&seccomp, denied).count(),
            0,
            "{denied} should be denied"
        );
    }
    assert!(allows_with_args(&seccomp, "clone"));
    assert!(!allows_unconditionally(&seccomp, "clone"));
    assert!(allows_with_args(&seccomp, "personality"));
    assert!(allows_with_args(&seccomp, "socket"));
    let clone3: Vec<_> = rules(&seccomp, "clone3").collect();
    assert_eq!(clone3.len(), 1);
    assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(clone3[0].errno_ret(), Some(libc::ENOSYS as u32));
}

#[test]
fn docker_default_with_sys_admin_allows_mount_and_plain_clone() {
    let mut caps = DOCKER_DEFAULT_CAPS.to_vec();
    caps.push(Capability::SysAdmin);
    let seccomp = docker_default(&caps);
    for allowed in ["mount", "umount2", "unshare", "setns", "clone", "clone3"] {
        assert!(
            allows_unconditionally(&seccomp, allowed),
            "{allowed} should be allowed"
        );
    }
    assert!(!allows_with_args(&seccomp, "clone"));
    assert!(rules(&seccomp, "clone3").all(|c| c.action() == LinuxSeccompAction::ScmpActAllow));
    assert_eq!(rules(&seccomp, "reboot").count(), 0);
}

#[test]
fn docker_default_caps_gate_their_syscalls() {
    let cases = [
        (Capability::SysBoot, "reboot"),
        (Capability::SysModule, "finit_module"),
        (Capability::SysPacct, "acct"),
        (Capability::SysPtrace, "kcmp"),
        (Capability::SysRawio, "iopl"),
        (Capability::SysTime, "settimeofday"),
        (Capability::SysTtyConfig, "vhangup"),
        (Capability::SysNice, "mbind"),
        (Capability::Syslog, "syslog"),
        (Capability::Bpf, "bpf"),
        (Capability::Perfmon, "perf_event_open"),
        (Capability::DacReadSearch, "open_by_handle_at"),
    ];
    for (cap, name) in cases {
        assert!(
            !allows_unconditionally(&docker_default(&[]), name),
            "{name} without {cap}"
        );
        assert!(
            allows_unconditionally(&docker_default(&[cap]), name),
            "{name} with {cap}"
        );
    }
}

#[test]
fn docker_default_compiles_and_is_quick() {
    let mut with_admin = DOCKER_DEFAULT_CAPS.to_vec();
    with_admin.push(Capability::SysAdmin);
    compile(&docker_default(&with_admin)).unwrap();
    compile(&docker_default(&[])).unwrap();

    const RUNS: u32 = 20;
    let mut fastest = Duration::MAX;
    let mut total = Duration::ZERO;
    let mut instructions = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        let filter = compile(&docker_default(&DOCKER_DEFAULT_CAPS)).unwrap();
        let took = start.elapsed();
        fastest = fastest.min(took);
        total += took;
        instructions = filter.instructions();
    }
    println!(
        "compile(docker_default(docker caps)): {instructions} BPF instructions, \
         fastest {fastest:?}, mean {:?} over {RUNS} runs",
        total / RUNS
    );
    assert!(instructions > 100);
}
