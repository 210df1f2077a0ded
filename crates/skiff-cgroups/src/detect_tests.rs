//! Tests for `detect_from` over real mount tables.

use super::*;

/// `cat /proc/self/mountinfo` on the development VM: v1 controllers, one per mount, plus a
/// cgroup2 tree at /sys/fs/cgroup/unified (hybrid).
const THIS_MACHINE: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334492k,nr_inodes=3083623,mode=755
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684092k
26 24 0:24 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
28 27 0:25 / /mnt/sandboxing/model_tools_env/v1/python ro,nosuid,nodev,relatime - tmpfs model_tools_unavailable ro,size=4k,mode=755
29 26 0:26 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
30 25 0:27 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684092k
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

/// A pure-v2 systemd host (Debian 12).
const SYSTEMD_V2: &str = "\
22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
23 28 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw
24 28 0:5 / /dev rw,nosuid,relatime shared:2 - devtmpfs udev rw,size=8131380k,nr_inodes=2032845,mode=755,inode64
25 24 0:23 / /dev/pts rw,nosuid,noexec,relatime shared:3 - devpts devpts rw,gid=5,mode=620,ptmxmode=000
26 28 0:24 / /run rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw,size=1631204k,mode=755,inode64
28 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw,errors=remount-ro
29 22 0:6 / /sys/kernel/security rw,nosuid,nodev,noexec,relatime shared:8 - securityfs securityfs rw
30 24 0:25 / /dev/shm rw,nosuid,nodev shared:4 - tmpfs tmpfs rw,inode64
32 22 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
33 22 0:28 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:10 - pstore pstore rw
34 22 0:29 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime shared:11 - bpf bpf rw,mode=700
";

/// A systemd hybrid host (Ubuntu 20.04): tmpfs at /sys/fs/cgroup, co-mounted controllers,
/// name=systemd, and an empty cgroup2 tree at /sys/fs/cgroup/unified.
const SYSTEMD_HYBRID: &str = "\
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 30 0:24 / /proc rw,nosuid,nodev,noexec,relatime shared:14 - proc proc rw
30 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
34 25 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
35 34 0:29 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
36 34 0:30 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
39 34 0:33 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
40 34 0:34 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,net_cls,net_prio
41 34 0:35 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,memory
42 34 0:36 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,devices
43 34 0:37 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,blkio
44 34 0:38 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup rw,freezer
45 34 0:39 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:21 - cgroup cgroup rw,pids
46 34 0:40 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:22 - cgroup cgroup rw,cpuset,clone_children
47 34 0:41 / /sys/fs/cgroup/hugetlb rw,nosuid,nodev,noexec,relatime shared:23 - cgroup cgroup rw,hugetlb
48 34 0:42 / /sys/fs/cgroup/perf_event rw,nosuid,nodev,noexec,relatime shared:24 - cgroup cgroup rw,perf_event
";

fn v1(layout: Layout) -> Vec<(String, PathBuf)> {
    match layout {
        Layout::V1 { hierarchies } => hierarchies
            .into_iter()
            .map(|h| (h.controllers.join(","), h.mount))
            .collect(),
        other => panic!("expected v1, got {other:?}"),
    }
}

fn h(controllers: &str, mount: &str) -> (String, PathBuf) {
    (controllers.to_string(), PathBuf::from(mount))
}

#[test]
fn this_machine_is_v1_despite_the_unified_mount() {
    assert_eq!(
        v1(detect_from(THIS_MACHINE).unwrap()),
        vec![
            h("cpu", "/sys/fs/cgroup/cpu"),
            h("cpuacct", "/sys/fs/cgroup/cpuacct"),
            h("cpuset", "/sys/fs/cgroup/cpuset"),
            h("memory", "/sys/fs/cgroup/memory"),
            h("devices", "/sys/fs/cgroup/devices"),
            h("freezer", "/sys/fs/cgroup/freezer"),
            h("blkio", "/sys/fs/cgroup/blkio"),
            h("pids", "/sys/fs/cgroup/pids"),
            h("name=systemd", "/sys/fs/cgroup/systemd"),
        ]
    );
}

#[test]
fn systemd_v2_host() {
    let layout = detect_from(SYSTEMD_V2).unwrap();
    assert_eq!(
        layout,
        Layout::V2 {
            root: PathBuf::from("/sys/fs/cgroup")
        }
    );
    assert_eq!(layout.version(), Version::V2);
}

#[test]
fn systemd_hybrid_host_keeps_co_mounted_controllers_together() {
    let layout = detect_from(SYSTEMD_HYBRID).unwrap();
    assert_eq!(layout.version(), Version::V1);
    assert_eq!(
        v1(layout),
        vec![
            h("name=systemd", "/sys/fs/cgroup/systemd"),
            h("cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct"),
            h("net_cls,net_prio", "/sys/fs/cgroup/net_cls,net_prio"),
            h("memory", "/sys/fs/cgroup/memory"),
            h("devices", "/sys/fs/cgroup/devices"),
            h("blkio", "/sys/fs/cgroup/blkio"),
            h("freezer", "/sys/fs/cgroup/freezer"),
            h("pids", "/sys/fs/cgroup/pids"),
            h("cpuset", "/sys/fs/cgroup/cpuset"),
            h("hugetlb", "/sys/fs/cgroup/hugetlb"),
            h("perf_event", "/sys/fs/cgroup/perf_event"),
        ]
    );
}

#[test]
fn bind_mounted_hierarchy_is_listed_once() {
    let table = format!(
        "{SYSTEMD_HYBRID}90 30 0:35 / /var/lib/x/memory rw,relatime - cgroup cgroup rw,memory\n"
    );
    let hierarchies = v1(detect_from(&table).unwrap());
    assert_eq!(hierarchies.iter().filter(|(c, _)| c == "memory").count(), 1);
}

#[test]
fn no_cgroups_is_a_clear_error() {
    let table = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n";
    let err = detect_from(table).unwrap_err();
    assert!(matches!(err, Error::NoCgroupMounts), "{err:?}");
    assert!(err.to_string().contains("no cgroup filesystem is mounted"));
}

#[test]
fn lone_cgroup2_elsewhere_is_used() {
    let table =
        "27 1 254:0 / / rw - ext4 /dev/vda rw\n40 27 0:40 / /cg\\0402 rw - cgroup2 none rw\n";
    assert_eq!(
        detect_from(table).unwrap(),
        Layout::V2 {
            root: PathBuf::from("/cg 2")
        }
    );
}

#[test]
fn malformed_line_names_the_line() {
    let table = "27 1 254:0 / / rw - ext4 /dev/vda rw\n28 27 0:1 / /x rw cgroup\n";
    match detect_from(table).unwrap_err() {
        Error::Parse { line, .. } => assert_eq!(line, 2),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn unescape_octal() {
    assert_eq!(unescape(r"/a\040b\134c\777"), r"/a b\c\777");
}
