use std::path::Path;

use skiff_api::{ByteSize, MountSpec, Propagation};

use super::*;
use crate::decode::test_support::run_at;

/// A project in `/srv/app`, for a user whose home is `/home/ann`.
fn mcx() -> MountContext<'static> {
    MountContext {
        project_dir: Path::new("/srv/app"),
        home: Some("/home/ann"),
    }
}

fn run_with(text: &str, mcx: &MountContext) -> (Vec<MountSpec>, Vec<String>) {
    run_at("services.web.volumes", text, |cx, n, p| {
        volumes(cx, n, p, mcx)
    })
}

fn read(text: &str) -> Vec<MountSpec> {
    let (out, errors) = run_with(text, &mcx());
    assert_eq!(errors, Vec::<String>::new());
    out
}

fn errors(text: &str) -> Vec<String> {
    run_with(text, &mcx()).1
}

fn run_tmpfs(text: &str) -> (Vec<MountSpec>, Vec<String>) {
    run_at("services.web.tmpfs", text, tmpfs)
}

fn volume(source: Option<&str>, target: &str) -> MountSpec {
    MountSpec::Volume {
        source: source.map(Into::into),
        target: target.into(),
        read_only: false,
        nocopy: false,
        subpath: None,
    }
}

/// A bind mount as the short syntax makes it: read-write, creating the host path.
fn bind(source: &str, target: &str) -> MountSpec {
    MountSpec::Bind {
        source: source.into(),
        target: target.into(),
        read_only: false,
        propagation: None,
        create_host_path: true,
    }
}

fn tmpfs_at(target: &str, size: Option<u64>, mode: Option<u32>) -> MountSpec {
    MountSpec::Tmpfs {
        target: target.into(),
        size: size.map(ByteSize),
        mode,
    }
}

#[test]
fn short_syntax_reads_named_and_anonymous_volumes() {
    let got = read("- data:/var/lib/data\n- /cache\n- logs:/logs:ro,nocopy\n- db.v-1_x:/db:rw\n");
    assert_eq!(
        got,
        [
            volume(Some("data"), "/var/lib/data"),
            volume(None, "/cache"),
            MountSpec::Volume {
                source: Some("logs".into()),
                target: "/logs".into(),
                read_only: true,
                nocopy: true,
                subpath: None,
            },
            volume(Some("db.v-1_x"), "/db"),
        ]
    );
}

#[test]
fn short_syntax_resolves_bind_sources_lexically() {
    let got = read(
        "- ./conf:/etc/app\n- ../shared/./x/:/x\n- .:/src\n- /var/run/docker.sock:/docker.sock\n\
         - ~/.ssh:/root/.ssh\n- ~:/home\n- .hidden:/h\n- ../../../..:/up\n- /a//b/../c:/c\n",
    );
    assert_eq!(
        got,
        [
            bind("/srv/app/conf", "/etc/app"),
            bind("/srv/shared/x", "/x"),
            bind("/srv/app", "/src"),
            bind("/var/run/docker.sock", "/docker.sock"),
            bind("/home/ann/.ssh", "/root/.ssh"),
            bind("/home/ann", "/home"),
            bind("/srv/app/.hidden", "/h"),
            bind("/", "/up"),
            bind("/a/c", "/c"),
        ]
    );
}

#[test]
fn short_syntax_bind_options() {
    let got =
        read("- ./a:/a:ro,rshared\n- ./b:/b:rw,private,cached\n- ./c:/c:delegated,consistent\n");
    assert_eq!(
        got,
        [
            MountSpec::Bind {
                source: "/srv/app/a".into(),
                target: "/a".into(),
                read_only: true,
                propagation: Some(Propagation::Rshared),
                create_host_path: true,
            },
            MountSpec::Bind {
                source: "/srv/app/b".into(),
                target: "/b".into(),
                read_only: false,
                propagation: Some(Propagation::Private),
                create_host_path: true,
            },
            bind("/srv/app/c", "/c"),
        ]
    );
    let modes = read("- /s:/s:shared\n- /sl:/sl:slave\n- /rs:/rs:rslave\n- /rp:/rp:rprivate\n");
    let props: Vec<_> = modes
        .iter()
        .map(|m| match m {
            MountSpec::Bind { propagation, .. } => *propagation,
            _ => panic!("{m:?}"),
        })
        .collect();
    assert_eq!(
        props,
        [
            Some(Propagation::Shared),
            Some(Propagation::Slave),
            Some(Propagation::Rslave),
            Some(Propagation::Rprivate),
        ]
    );
}

#[test]
fn home_is_needed_for_tilde_and_other_users_homes_are_refused() {
    let no_home = MountContext {
        project_dir: Path::new("/srv/app"),
        home: None,
    };
    assert_eq!(
        run_with("- ~/x:/x\n- ./y:/y\n", &no_home).1,
        [
            "compose.yaml:1:3: error: services.web.volumes[0]: `~/x` starts with `~`, and no \
             home directory is known here: write the absolute path"
        ]
    );
    assert_eq!(
        errors("- ~bob/x:/x\n"),
        [
            "compose.yaml:1:3: error: services.web.volumes[0]: `~bob/x`: only `~` and `~/…` \
             (the home directory) are understood, not another user's home: write the absolute \
             path"
        ]
    );
}

#[test]
fn short_syntax_shape_and_name_errors() {
    assert_eq!(
        errors("- ''\n- a:b:c:d\n- a::/b\n- 'my vol:/data'\n- -x:/data\n- [a]\n"),
        [
            "compose.yaml:1:3: error: services.web.volumes[0]: empty entry: write \
             `SOURCE:TARGET[:MODE]`, or a container path such as `/data` for an anonymous volume",
            "compose.yaml:2:3: error: services.web.volumes[1]: `a:b:c:d` has too many colons: \
             write `SOURCE:TARGET[:MODE]`",
            "compose.yaml:3:3: error: services.web.volumes[2]: `a::/b` has an empty part \
             between colons: write `SOURCE:TARGET[:MODE]`",
            "compose.yaml:4:3: error: services.web.volumes[3]: `my vol` is not a volume name: \
             use letters, digits, `_`, `.` and `-`, starting with a letter or digit; for a host \
             path, start it with `/` or `./`",
            "compose.yaml:5:3: error: services.web.volumes[4]: `-x` is not a volume name: use \
             letters, digits, `_`, `.` and `-`, starting with a letter or digit; for a host \
             path, start it with `/` or `./`",
            "compose.yaml:6:3: error: services.web.volumes[5]: expected `SOURCE:TARGET[:MODE]` \
             or a mapping with `type:` and `target:`, found a list",
        ]
    );
}

#[test]
fn targets_are_absolute_and_normalized() {
    assert_eq!(
        read("- data:/data/\n- /x/./y//\n"),
        [volume(Some("data"), "/data"), volume(None, "/x/y")]
    );
    assert_eq!(
        errors("- data:relative\n- data:/a/../b\n- data:/\n- /data:ro\n- ./x:./y\n"),
        [
            "compose.yaml:1:3: error: services.web.volumes[0]: `relative` is not an absolute \
             container path: write `/relative`",
            "compose.yaml:2:3: error: services.web.volumes[1]: `/a/../b` has a `..` component: \
             write the container path without it, such as `/b`",
            "compose.yaml:3:3: error: services.web.volumes[2]: cannot mount over the container's \
             root `/`: choose a directory such as `/data`",
            "compose.yaml:4:3: error: services.web.volumes[3]: `ro` is not an absolute container \
             path: options come third, as in `SOURCE:TARGET:ro`",
            "compose.yaml:5:3: error: services.web.volumes[4]: `./y` is not an absolute \
             container path: write `/y`",
        ]
    );
}

#[test]
fn short_syntax_option_errors_name_the_fix() {
    assert_eq!(
        errors(
            "- ./a:/a:nocopy\n- v:/v:rshared\n- ./b:/b:z\n- ./c:/c:Z\n- ./d:/d:ro,rw\n\
             - ./e:/e:shared,rslave\n- ./f:/f:ro,\n- ./g:/g:exec\n- ./h:/h:rshard\n\
             - ./i:/i:z,nocopy\n"
        ),
        [
            "compose.yaml:1:3: error: services.web.volumes[0]: `nocopy` applies to volumes \
             only, and `./a` is a bind mount: drop `nocopy`",
            "compose.yaml:2:3: error: services.web.volumes[1]: propagation `rshared` applies to \
             bind mounts only, and `v` is a volume: drop `rshared`",
            "compose.yaml:3:3: error: services.web.volumes[2]: `z` asks for an SELinux relabel, \
             and Skiff has no SELinux support: drop `z`",
            "compose.yaml:4:3: error: services.web.volumes[3]: `Z` asks for an SELinux relabel, \
             and Skiff has no SELinux support: drop `Z`",
            "compose.yaml:5:3: error: services.web.volumes[4]: `ro` and `rw` contradict each \
             other: keep one",
            "compose.yaml:6:3: error: services.web.volumes[5]: `shared` and `rslave` are both \
             propagation modes: keep one",
            "compose.yaml:7:3: error: services.web.volumes[6]: `ro,` has an empty option: \
             separate options with single commas, such as `ro,rshared`",
            "compose.yaml:8:3: error: services.web.volumes[7]: unknown volume option `exec`: use \
             ro or rw, nocopy (volumes), or a propagation mode for bind mounts: rprivate, \
             private, rshared, shared, rslave or slave",
            "compose.yaml:9:3: error: services.web.volumes[8]: unknown volume option `rshard`; \
             did you mean `rshared`?",
            "compose.yaml:10:3: error: services.web.volumes[9]: `z` asks for an SELinux \
             relabel, and Skiff has no SELinux support: drop `z`",
            "compose.yaml:10:3: error: services.web.volumes[9]: `nocopy` applies to volumes \
             only, and `./i` is a bind mount: drop `nocopy`",
        ]
    );
}

#[test]
fn every_problem_of_one_short_entry_is_reported() {
    assert_eq!(
        errors("- 'bad name:data:rx'\n"),
        [
            "compose.yaml:1:3: error: services.web.volumes[0]: `data` is not an absolute \
             container path: write `/data`",
            "compose.yaml:1:3: error: services.web.volumes[0]: unknown volume option `rx`: use \
             ro or rw, nocopy (volumes), or a propagation mode for bind mounts: rprivate, \
             private, rshared, shared, rslave or slave",
            "compose.yaml:1:3: error: services.web.volumes[0]: `bad name` is not a volume name: \
             use letters, digits, `_`, `.` and `-`, starting with a letter or digit; for a host \
             path, start it with `/` or `./`",
        ]
    );
}

#[test]
fn one_mount_per_target() {
    let (got, errors) = run_with(
        "- a:/data\n- ./b:/data/\n- /data\n- type: tmpfs\n  target: /data\n- /other\n",
        &mcx(),
    );
    assert_eq!(
        errors,
        [
            "compose.yaml:2:3: error: services.web.volumes[1]: `/data` is already mounted by \
             volumes[0]",
            "compose.yaml:3:3: error: services.web.volumes[2]: `/data` is already mounted by \
             volumes[0]",
            "compose.yaml:4:3: error: services.web.volumes[3]: `/data` is already mounted by \
             volumes[0]",
        ]
    );
    assert_eq!(got, [volume(Some("a"), "/data"), volume(None, "/other")]);
}

#[test]
fn long_syntax_volumes() {
    let got = read(
        "- type: volume\n  source: data\n  target: /data\n  read_only: true\n\
         \x20 volume: {nocopy: true, subpath: ./logs//app/}\n\
         - {type: volume, target: /anon}\n- {type: volume, source: '', target: /anon2/}\n\
         - {type: volume, source: v, target: /v, consistency: cached, x-note: ok}\n",
    );
    assert_eq!(
        got,
        [
            MountSpec::Volume {
                source: Some("data".into()),
                target: "/data".into(),
                read_only: true,
                nocopy: true,
                subpath: Some("logs/app".into()),
            },
            volume(None, "/anon"),
            volume(None, "/anon2"),
            volume(Some("v"), "/v"),
        ]
    );
}

#[test]
fn long_syntax_binds_do_not_create_the_host_path_unless_asked() {
    let got = read(
        "- type: bind\n  source: ./conf\n  target: /etc/conf\n  read_only: yes\n\
         \x20 bind: {propagation: rslave, create_host_path: true}\n\
         - {type: bind, source: data, target: /d}\n- {type: bind, source: ~/x, target: /x}\n\
         - {type: bind, source: /abs/, target: /abs, bind: {create_host_path: false}}\n",
    );
    let plain = |source: &str, target: &str| MountSpec::Bind {
        source: source.into(),
        target: target.into(),
        read_only: false,
        propagation: None,
        create_host_path: false,
    };
    assert_eq!(
        got,
        [
            MountSpec::Bind {
                source: "/srv/app/conf".into(),
                target: "/etc/conf".into(),
                read_only: true,
                propagation: Some(Propagation::Rslave),
                create_host_path: true,
            },
            plain("/srv/app/data", "/d"),
            plain("/home/ann/x", "/x"),
            plain("/abs", "/abs"),
        ]
    );
}

#[test]
fn long_syntax_tmpfs() {
    let got = read(
        "- type: tmpfs\n  target: /tmp\n  tmpfs: {size: 64m, mode: 01777}\n\
         - {type: tmpfs, target: /t2, tmpfs: {size: 1048576}, read_only: false}\n\
         - {type: tmpfs, target: /t3}\n",
    );
    assert_eq!(
        got,
        [
            tmpfs_at("/tmp", Some(64 << 20), Some(0o1777)),
            tmpfs_at("/t2", Some(1 << 20), None),
            tmpfs_at("/t3", None, None),
        ]
    );
}

#[test]
fn long_syntax_types_are_required_and_checked() {
    assert_eq!(
        errors(
            "- {target: /a}\n- {type: npipe, target: /b}\n- {type: cluster, target: /c}\n\
             - {type: image, target: /d}\n- {type: bnd, target: /e}\n- {type: disk, target: /f}\n\
             - {type: volume}\n"
        ),
        [
            "compose.yaml:1:4: error: services.web.volumes[0]: `type` is required: `volume`, \
             `bind` or `tmpfs`",
            "compose.yaml:2:10: error: services.web.volumes[1].type: Skiff does not support \
             `npipe` mounts: named pipes are a Windows feature; to share a Unix socket, \
             bind-mount it with `type: bind`",
            "compose.yaml:3:10: error: services.web.volumes[2].type: Skiff does not support \
             `cluster` mounts (Swarm cluster volumes): use a named volume with `type: volume`",
            "compose.yaml:4:10: error: services.web.volumes[3].type: Skiff does not support \
             `image` mounts: copy the content into a named volume, or build it into this \
             service's image",
            "compose.yaml:5:10: error: services.web.volumes[4].type: unknown mount type `bnd`; \
             did you mean `bind`?",
            "compose.yaml:6:10: error: services.web.volumes[5].type: unknown mount type `disk`: \
             use `volume`, `bind` or `tmpfs`",
            "compose.yaml:7:4: error: services.web.volumes[6]: `target` is required: the \
             absolute path in the container, such as `target: /data`",
        ]
    );
}

#[test]
fn long_syntax_sources_must_fit_the_type() {
    assert_eq!(
        errors(
            "- {type: bind, target: /a}\n- {type: tmpfs, source: x, target: /b}\n\
             - {type: volume, source: ./data, target: /c}\n- {type: volume, source: 'a b', target: /d}\n\
             - {type: bind, source: '', target: /e}\n"
        ),
        [
            "compose.yaml:1:4: error: services.web.volumes[0]: a bind mount needs `source`: the \
             host path to mount, such as `source: ./data`",
            "compose.yaml:2:25: error: services.web.volumes[1].source: a tmpfs mount has no \
             `source` (it starts empty): remove `source`",
            "compose.yaml:3:26: error: services.web.volumes[2].source: `./data` is a host path, \
             not a volume name: for a bind mount write `type: bind`",
            "compose.yaml:4:26: error: services.web.volumes[3].source: `a b` is not a volume \
             name: use letters, digits, `_`, `.` and `-`, starting with a letter or digit; for a \
             host path, start it with `/` or `./`",
            "compose.yaml:5:24: error: services.web.volumes[4].source: must not be empty",
        ]
    );
}

#[test]
fn long_syntax_options_must_fit_the_type() {
    assert_eq!(
        errors(
            "- type: volume\n  target: /a\n  bind: {propagation: shared}\n\
             - type: bind\n  source: /b\n  target: /b\n  volume: {nocopy: true}\n  tmpfs: {size: 1m}\n\
             - type: tmpfs\n  target: /c\n  read_only: true\n"
        ),
        [
            "compose.yaml:3:9: error: services.web.volumes[0].bind: `bind` options apply to \
             `type: bind` mounts, and this is a `volume` mount: remove `bind:` or change `type`",
            "compose.yaml:7:11: error: services.web.volumes[1].volume: `volume` options apply to \
             `type: volume` mounts, and this is a `bind` mount: remove `volume:` or change `type`",
            "compose.yaml:8:10: error: services.web.volumes[1].tmpfs: `tmpfs` options apply to \
             `type: tmpfs` mounts, and this is a `bind` mount: remove `tmpfs:` or change `type`",
            "compose.yaml:11:14: error: services.web.volumes[2].read_only: Skiff cannot mount a \
             tmpfs read-only (it would stay empty): remove `read_only`, or use a volume",
        ]
    );
}

#[test]
fn long_syntax_reports_every_bad_key_and_value() {
    assert_eq!(
        errors(
            "- type: bind\n  source: ./x\n  target: data\n  read_only: maybe\n  image: {subpath: a}\n\
             \x20 bind: {propagation: up, create_host_path: 2, selinux: z}\n  consistncy: cached\n\
             - type: volume\n  target: /v\n  volume: {subpath: ../etc, nocopy: true, labels: {}}\n\
             - type: tmpfs\n  target: /t\n  tmpfs: {size: lots, mode: rwx}\n"
        ),
        [
            "compose.yaml:5:3: error: services.web.volumes[0].image: Skiff does not support \
             `image`: image mounts are not available; copy the content into a named volume, or \
             build it into this service's image",
            "compose.yaml:7:3: error: services.web.volumes[0].consistncy: unknown key \
             `consistncy`; did you mean `consistency`?",
            "compose.yaml:3:11: error: services.web.volumes[0].target: `data` is not an \
             absolute container path: write `/data`",
            "compose.yaml:4:14: error: services.web.volumes[0].read_only: expected true or \
             false, found `maybe`",
            "compose.yaml:6:48: error: services.web.volumes[0].bind.selinux: Skiff does not \
             support `selinux`: Skiff does not use SELinux, so there is nothing to relabel; \
             remove it",
            "compose.yaml:6:23: error: services.web.volumes[0].bind.propagation: unknown \
             propagation `up`: use rprivate (the default), private, rshared, shared, rslave or \
             slave",
            "compose.yaml:6:45: error: services.web.volumes[0].bind.create_host_path: expected \
             true or false, found `2`",
            "compose.yaml:10:43: error: services.web.volumes[1].volume.labels: unknown key \
             `labels` (keys here: nocopy, subpath)",
            "compose.yaml:10:21: error: services.web.volumes[1].volume.subpath: `../etc` does \
             not name a directory inside the volume: write a relative path without `..`, such \
             as `logs/app`",
            "compose.yaml:13:17: error: services.web.volumes[2].tmpfs.size: `lots` is not a \
             size: use a number with an optional unit, such as `512m`, `1.5GiB` or `64k` \
             (units: b, k, m, g, t, p)",
            "compose.yaml:13:29: error: services.web.volumes[2].tmpfs.mode: `rwx` is not a file \
             mode: use octal such as 0440",
        ]
    );
}

#[test]
fn the_tmpfs_key_takes_one_path_or_a_list() {
    let (got, errors) = run_tmpfs("/run\n");
    assert_eq!((got, errors), (vec![tmpfs_at("/run", None, None)], vec![]));
    let (got, errors) = run_tmpfs(
        "- /run\n- /tmp/:size=64m,mode=1777\n- /x:rw,noexec,nosuid,nodev,exec,suid,dev\n\
         - /y:mode=0700,size=1g\n",
    );
    assert_eq!(errors, Vec::<String>::new());
    assert_eq!(
        got,
        [
            tmpfs_at("/run", None, None),
            tmpfs_at("/tmp", Some(64 << 20), Some(0o1777)),
            tmpfs_at("/x", None, None),
            tmpfs_at("/y", Some(1 << 30), Some(0o700)),
        ]
    );
}

#[test]
fn the_tmpfs_key_reports_bad_options_and_clashes() {
    let (got, errors) = run_tmpfs(
        "- /a:ro\n- /b:size=lots\n- /c:mode=999\n- relative\n- /d:size=1m,size=2m\n\
         - /e:mode=1777,mode=700\n- /f:,\n- {a: 1}\n- /run\n- /run/:size=1m\n- /g:mode=17777\n",
    );
    assert_eq!(
        errors,
        [
            "compose.yaml:1:3: error: services.web.tmpfs[0]: unknown tmpfs option `ro`: use \
             `size=` (such as `size=64m`) and `mode=` (octal, such as `mode=1777`); rw, exec, \
             noexec, suid, nosuid, dev and nodev are accepted and ignored (Skiff mounts tmpfs \
             nosuid,nodev)",
            "compose.yaml:2:3: error: services.web.tmpfs[1]: `lots` is not a size: use a number \
             with an optional unit, such as `512m`, `1.5GiB` or `64k` (units: b, k, m, g, t, p)",
            "compose.yaml:3:3: error: services.web.tmpfs[2]: `mode=999` is not a file mode: \
             write octal permission bits, such as `mode=1777`",
            "compose.yaml:4:3: error: services.web.tmpfs[3]: `relative` is not an absolute \
             container path: write `/relative`",
            "compose.yaml:5:3: error: services.web.tmpfs[4]: `size=` is given twice: keep one",
            "compose.yaml:6:3: error: services.web.tmpfs[5]: `mode=` is given twice: keep one",
            "compose.yaml:7:3: error: services.web.tmpfs[6]: `/f:,` has an empty option: \
             separate options with single commas, such as `/run:size=64m,mode=1777`",
            "compose.yaml:8:3: error: services.web.tmpfs[7]: expected a container path such as \
             `/run` or `/run:size=64m`, found a mapping",
            "compose.yaml:10:3: error: services.web.tmpfs[9]: `/run` is already mounted by \
             tmpfs[8]",
            "compose.yaml:11:3: error: services.web.tmpfs[10]: `mode=17777` is not a file mode: \
             write octal permission bits, such as `mode=1777`",
        ]
    );
    assert_eq!(got, [tmpfs_at("/run", None, None)]);
}

#[test]
fn paths_are_cleaned_as_go_does() {
    assert_eq!(clean("/a/b/../../.."), "/");
    assert_eq!(clean("/a/./b//c/"), "/a/b/c");
    assert_eq!(clean("a/../.."), "..");
    assert_eq!(clean("./"), ".");
    assert_eq!(clean("../a/../b"), "../b");
}
