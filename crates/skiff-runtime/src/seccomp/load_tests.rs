//! Tests that load compiled filters, each in a forked child so the test process stays unfiltered.

use std::ffi::CString;

use oci_spec::runtime::LinuxSeccompAction;

use super::tests::{rule, section, DOCKER_DEFAULT_CAPS};
use super::{compile, docker_default, SeccompError};

/// Runs `child` in a forked process and returns its exit code.
///
/// The test harness is multi-threaded, so the child must only make raw syscalls: build every
/// allocation (filters, paths) before calling this.
fn in_child(child: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child runs `child`, which only makes raw syscalls, and then _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = child();
        // SAFETY: ends the child without running the parent's destructors or atexit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid, "waitpid: {}", std::io::Error::last_os_error());
    assert!(
        libc::WIFEXITED(status),
        "child did not exit normally: status {status:#x}"
    );
    libc::WEXITSTATUS(status)
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Sets no_new_privs so loading works without CAP_SYS_ADMIN too; returns an exit code on failure.
fn set_no_new_privs() -> Result<(), i32> {
    // SAFETY: prctl with integer arguments.
    match unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } {
        0 => Ok(()),
        _ => Err(200),
    }
}

fn temp_path(dir: &tempfile::TempDir, name: &str) -> CString {
    CString::new(dir.path().join(name).into_os_string().into_encoded_bytes()).unwrap()
}

#[test]
fn loaded_filter_makes_mkdir_fail_with_eperm() {
    let mut mkdir = rule(&["mkdir", "mkdirat"], LinuxSeccompAction::ScmpActErrno);
    mkdir.set_errno_ret(Some(libc::EPERM as u32));
    let filter = compile(&section(LinuxSeccompAction::ScmpActAllow, vec![mkdir])).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir, "denied");

    let code = in_child(|| {
        if let Err(code) = set_no_new_privs() {
            return code;
        }
        if filter.load().is_err() {
            return 201;
        }
        // SAFETY: `path` is a valid C string.
        if unsafe { libc::mkdir(path.as_ptr(), 0o755) } == 0 {
            return 0;
        }
        errno()
    });
    assert_eq!(code, libc::EPERM);
    assert!(!dir.path().join("denied").exists());
}

#[test]
fn loaded_docker_default_denies_privileged_syscalls() {
    let filter = compile(&docker_default(&DOCKER_DEFAULT_CAPS)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let allowed = temp_path(&dir, "allowed");
    let source = CString::new("none").unwrap();

    // Each check returns its number on failure, so the exit code tells which one failed.
    let code = in_child(|| {
        if let Err(code) = set_no_new_privs() {
            return code;
        }
        if filter.load().is_err() {
            return 201;
        }
        // SAFETY (all below): raw syscalls with valid pointers or null arguments.
        unsafe {
            if libc::mkdir(allowed.as_ptr(), 0o755) != 0 {
                return 1;
            }
            let target = allowed.as_ptr();
            if libc::mount(
                source.as_ptr(),
                target,
                source.as_ptr(),
                0,
                std::ptr::null(),
            ) == 0
                || errno() != libc::EPERM
            {
                return 2;
            }
            if libc::unshare(libc::CLONE_NEWNS) == 0 || errno() != libc::EPERM {
                return 3;
            }
            // clone3 fails with ENOSYS so that libc falls back to clone.
            if libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0) == 0
                || errno() != libc::ENOSYS
            {
                return 4;
            }
            // clone with a namespace flag is refused; personality(0xffffffff) only queries.
            if libc::syscall(libc::SYS_clone, libc::CLONE_NEWNET, 0, 0, 0, 0) >= 0
                || errno() != libc::EPERM
            {
                return 5;
            }
            if libc::personality(0xffff_ffff) < 0 {
                return 6;
            }
            if libc::getpid() <= 0 {
                return 7;
            }
        }
        0
    });
    assert_eq!(code, 0, "check {code} failed in the child");
    assert!(dir.path().join("allowed").is_dir());
}

#[test]
fn loading_without_no_new_privs_or_cap_sys_admin_fails_with_eacces() {
    let filter = compile(&section(LinuxSeccompAction::ScmpActAllow, vec![])).unwrap();
    const NOT_ROOT: i32 = 202;
    let code = in_child(|| {
        // SAFETY: raw syscalls. As root, switching to an unprivileged uid clears the effective
        // capabilities, CAP_SYS_ADMIN included.
        unsafe {
            if libc::geteuid() != 0 {
                return NOT_ROOT;
            }
            if libc::setuid(65534) != 0 {
                return 203;
            }
        }
        match filter.load() {
            Ok(()) => 0,
            Err(SeccompError::Load { source }) => source.raw_os_error().unwrap_or(204),
            Err(_) => 205,
        }
    });
    if code == NOT_ROOT {
        eprintln!("not root: the test process cannot shed CAP_SYS_ADMIN; nothing to check");
        return;
    }
    assert_eq!(code, libc::EACCES);
}
