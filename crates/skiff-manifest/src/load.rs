//! The load pipeline: env files → compose files (with their includes) → interpolation → merge →
//! environment overrides → AppSpec, collecting every problem on the way.

use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};

use crate::compose::{self, AppContext};
use crate::decode::{index, join, Cx, Schema};
use crate::diag::{Diagnostic, Diagnostics, Severity};
use crate::service::ServiceContext;
use crate::yaml::{self, Entry, FileId, Kind, Node, Span};
use crate::{dotenv, interpolate, merge, names, Loaded, Loader, Options};

/// Most environments one file may describe (each is decoded in full when the file is loaded).
const MAX_ENVIRONMENTS: usize = 16;

/// Most files one load reads, includes counted: includes can fan out.
const MAX_FILES: usize = 64;

/// Includes deeper than this are refused (they are almost surely a cycle through symlinks).
const MAX_INCLUDE_DEPTH: usize = 8;

/// Joins `file` onto `dir` unless it is absolute, and folds `.` and `..` without touching the disk.
pub(crate) fn resolve(dir: &Path, file: &str) -> PathBuf {
    let joined = if Path::new(file).is_absolute() {
        PathBuf::from(file)
    } else {
        dir.join(file)
    };
    PathBuf::from(crate::mounts::clean(&joined.to_string_lossy()))
}

/// State shared by the files of one load.
struct Session<'a> {
    cx: Cx,
    loader: &'a dyn Loader,
    limits: yaml::Limits,
    /// The project directory of each registered file, by file id.
    dirs: Vec<PathBuf>,
    /// See [`Options::display_dir`].
    display_dir: Option<&'a Path>,
    /// The files being loaded, outermost first, to tell an include cycle.
    loading: Vec<PathBuf>,
    /// The `x-skiff` entries of the `-f` files, in order, not yet interpolated: each
    /// environment's fragment is interpolated only when that environment is checked.
    xskiff: Vec<Entry>,
}

impl Session<'_> {
    /// How a file is named in messages.
    fn shown(&self, path: &Path) -> String {
        self.display_dir
            .and_then(|d| path.strip_prefix(d).ok())
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// Registers a file for locations, with the directory its relative paths resolve against.
    fn register(&mut self, path: &Path, dir: &Path) -> FileId {
        let id = self.cx.add_file(self.shown(path));
        self.dirs.push(dir.to_path_buf());
        id
    }
}

/// Loads, merges, validates and normalizes the app described by `options.files`.
///
/// Every problem found is returned at once; warnings come back with a successful load.
pub fn load(options: &Options, loader: &dyn Loader) -> Result<Loaded, Diagnostics> {
    let project_dir = options.project_dir.clone().unwrap_or_else(|| {
        options
            .files
            .first()
            .and_then(|f| f.parent())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    });
    let project_dir = if project_dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        project_dir
    };
    let mut s = Session {
        cx: Cx::new(&[]),
        loader,
        limits: options.limits,
        dirs: Vec::new(),
        display_dir: options.display_dir.as_deref(),
        loading: Vec::new(),
        xskiff: Vec::new(),
    };
    if options.files.is_empty() {
        s.cx.error(
            Span {
                file: yaml::COMMAND_LINE,
                line: 0,
                col: 0,
            },
            "",
            "no compose file given",
        );
    }

    let dotenv = read_env_files(&mut s, options, &project_dir);
    let process_env = &options.process_env;
    let lookup = |k: &str| process_env.get(k).or_else(|| dotenv.get(k)).cloned();

    let trees: Vec<Node> = options
        .files
        .iter()
        .filter_map(|f| load_file(&mut s, f, &project_dir, &lookup, 0))
        .collect();
    let merged = merge::merge_all(trees);
    let Some(root) = merged else {
        return Err(finish(s.cx.diags));
    };

    let overrides = take_overrides(
        &mut s.cx,
        std::mem::take(&mut s.xskiff),
        &options.environment,
    );
    let name = app_name(&mut s.cx, &root, options, &project_dir);
    check_environment(&mut s.cx, &options.environment);
    let home = process_env.get("HOME").cloned();
    let decode = |cx: &mut Cx, env: &str, dirs: &[PathBuf]| {
        let mut tree = root.clone();
        for mut fragment in overrides.get(env).cloned().unwrap_or_default() {
            interpolate::interpolate_tree(
                cx,
                &mut fragment,
                &format!("x-skiff.environments.{env}"),
                &lookup,
            );
            tree = merge::merge(tree, fragment);
        }
        let acx = AppContext {
            name: name.as_deref().unwrap_or("app"),
            environment: env,
            profiles: &options.profiles,
            services: ServiceContext {
                lookup: &lookup,
                loader,
                dirs,
                home: home.as_deref(),
            },
        };
        compose::decode_app(cx, &tree, &acx)
    };
    let spec = decode(&mut s.cx, &options.environment, &s.dirs);

    // The other environments' overrides are checked too, so that `validate` in dev catches a
    // mistake that only prod would hit; not what depends on variables of the shell that will
    // apply prod, though. Their problems are told apart by a suffix.
    let seen: HashSet<Diagnostic> = s.cx.diags.iter().cloned().collect();
    for env in overrides.keys().filter(|e| **e != options.environment) {
        let mut other = s.cx.fork();
        other.checks_environment = false;
        let _ = decode(&mut other, env, &s.dirs);
        for d in other.diags.into_vec() {
            if d.severity == Severity::Error && !seen.contains(&d) {
                s.cx.diags.push(Diagnostic {
                    message: format!("{} (in environment `{env}`)", d.message),
                    ..d
                });
            }
        }
    }

    let diags = finish(s.cx.diags);
    match spec {
        Some(spec) if name.is_some() && !diags.has_errors() => Ok(Loaded {
            spec,
            warnings: diags.warnings().cloned().collect(),
        }),
        _ => Err(diags),
    }
}

fn finish(mut diags: Diagnostics) -> Diagnostics {
    diags.sort();
    diags
}

/// `--env-file` files, or `.env` in the project directory when there are none; the variables
/// they define, in order (later files win).
fn read_env_files(
    s: &mut Session,
    options: &Options,
    project_dir: &Path,
) -> BTreeMap<String, String> {
    let (files, required) = if options.env_files.is_empty() {
        (vec![project_dir.join(".env")], false)
    } else {
        (options.env_files.clone(), true)
    };
    let mut vars = BTreeMap::new();
    for path in files {
        let text = match s.loader.read(&path) {
            Ok(text) => text,
            Err(crate::LoadError::NotFound) if !required => continue,
            Err(e) => {
                let id = s.register(&path, project_dir);
                s.cx.error(
                    Span {
                        file: id,
                        line: 0,
                        col: 0,
                    },
                    "",
                    format!("cannot read env file: {e}"),
                );
                continue;
            }
        };
        let id = s.register(&path, project_dir);
        let process = &options.process_env;
        let known = vars.clone();
        let lookup = |k: &str| process.get(k).or_else(|| known.get(k)).cloned();
        let (pairs, errors) = dotenv::parse_dotenv(&text, &lookup);
        for e in errors {
            s.cx.error(
                Span {
                    file: id,
                    line: e.line,
                    col: 1,
                },
                "",
                e.message,
            );
        }
        vars.extend(pairs);
    }
    vars
}

/// Reads, parses and interpolates one compose file, and folds its `include`s into it.
fn load_file(
    s: &mut Session,
    path: &Path,
    project_dir: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
    depth: usize,
) -> Option<Node> {
    let id = s.register(path, project_dir);
    let whole = Span {
        file: id,
        line: 0,
        col: 0,
    };
    if let Some(from) = s.loading.iter().position(|p| p == path) {
        let chain: Vec<String> = s.loading[from..]
            .iter()
            .chain([&path.to_path_buf()])
            .map(|p| s.shown(p))
            .collect();
        s.cx.error(
            whole,
            "",
            format!(
                "include cycle: {}; remove one of these includes",
                chain.join(" → ")
            ),
        );
        return None;
    }
    if s.dirs.len() > MAX_FILES {
        s.cx.error(
            whole,
            "",
            format!("more than {MAX_FILES} files (with includes) in one load; Skiff refuses more"),
        );
        return None;
    }
    let text = match s.loader.read(path) {
        Ok(text) => text,
        Err(crate::LoadError::NotFound) => {
            s.cx.error(whole, "", "no such file");
            return None;
        }
        Err(e) => {
            s.cx.error(whole, "", format!("cannot read the file: {e}"));
            return None;
        }
    };
    let mut root = match yaml::parse(&text, id, &s.limits) {
        Ok(root) => root,
        Err(e) => {
            s.cx.error(
                Span {
                    file: id,
                    line: e.line,
                    col: e.col,
                },
                "",
                e.message,
            );
            return None;
        }
    };
    match &root.kind {
        Kind::Map(_) => {}
        Kind::Null => {
            s.cx.error(
                whole,
                "",
                "the file is empty; a compose file has at least `services:`",
            );
            return None;
        }
        _ => {
            s.cx.error(
                root.span,
                "",
                format!(
                    "a compose file is a mapping (`services:` …), not {}",
                    root.describe()
                ),
            );
            return None;
        }
    }
    if depth == 0 {
        // Environment fragments are interpolated when their environment is checked.
        s.xskiff.extend(take_key(&mut root, "x-skiff"));
    }
    interpolate::interpolate_tree(&mut s.cx, &mut root, "", lookup);
    if let Some(v) = take_key(&mut root, "version") {
        s.cx.warning(
            v.key_span,
            "version",
            "`version` is obsolete and ignored, as in Docker Compose; remove it",
        );
    }
    if let Some(include) = take_key(&mut root, "include") {
        s.loading.push(path.to_path_buf());
        includes(s, &mut root, &include.value, project_dir, lookup, depth);
        s.loading.pop();
    }
    Some(root)
}

/// Removes and returns the entry under `key` of a mapping node.
fn take_key(node: &mut Node, key: &str) -> Option<Entry> {
    let Kind::Map(entries) = &mut node.kind else {
        return None;
    };
    let i = entries.iter().position(|e| e.key == key)?;
    Some(entries.remove(i))
}

const INCLUDE: Schema = Schema {
    known: &["path", "project_directory", "env_file"],
    unsupported: &[],
};

/// Loads each included project and adds its resources to `root`; a name defined on both sides is
/// an error, as in Compose.
fn includes(
    s: &mut Session,
    root: &mut Node,
    node: &Node,
    dir: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
    depth: usize,
) {
    if depth >= MAX_INCLUDE_DEPTH {
        s.cx.error(
            node.span,
            "include",
            format!(
                "includes nest deeper than {MAX_INCLUDE_DEPTH} levels; is a file including itself?"
            ),
        );
        return;
    }
    let items = s.cx.seq(node, "include").unwrap_or_default().to_vec();
    for (i, item) in items.iter().enumerate() {
        let p = index("include", i);
        let (paths, project) = match &item.kind {
            Kind::Map(_) => {
                let Some(f) = s.cx.fields(item, &p, &INCLUDE) else {
                    continue;
                };
                let paths = f
                    .get("path")
                    .and_then(|n| s.cx.one_or_many(n, &join(&p, "path")))
                    .unwrap_or_default();
                let project = f
                    .get("project_directory")
                    .and_then(|n| s.cx.non_empty(n, &join(&p, "project_directory")));
                if f.get("env_file").is_some() {
                    s.cx.error(item.span, &join(&p, "env_file"), "an include's own env_file is not supported yet; put its variables in the main .env");
                }
                (paths, project)
            }
            _ => (s.cx.non_empty(item, &p).into_iter().collect(), None),
        };
        if paths.is_empty() {
            s.cx.error(item.span, &p, "an include needs a `path`");
            continue;
        }
        let files: Vec<PathBuf> = paths.iter().map(|f| resolve(dir, f)).collect();
        let sub_dir = match project {
            Some(d) => resolve(dir, &d),
            None => files[0]
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| dir.to_path_buf()),
        };
        let trees: Vec<Node> = files
            .iter()
            .filter_map(|f| load_file(s, f, &sub_dir, lookup, depth + 1))
            .collect();
        if let Some(included) = merge::merge_all(trees) {
            add_included(&mut s.cx, root, included, &files[0]);
        }
    }
}

fn add_included(cx: &mut Cx, root: &mut Node, included: Node, from: &Path) {
    // Its top level is checked like any file's: a misspelt `servces:` must not vanish.
    if cx.fields(&included, "", &compose::TOP).is_none() {
        return;
    }
    let Kind::Map(sections) = included.kind else {
        return;
    };
    let Kind::Map(entries) = &mut root.kind else {
        return;
    };
    for section in sections {
        if !["services", "networks", "volumes", "secrets", "configs"]
            .contains(&section.key.as_str())
        {
            continue;
        }
        let Kind::Map(items) = section.value.kind else {
            continue;
        };
        let target = match entries.iter_mut().position(|e| e.key == section.key) {
            Some(i) => &mut entries[i],
            None => {
                let empty = Node::new(section.key_span, Kind::Map(Vec::new()));
                entries.push(Entry {
                    key: section.key.clone(),
                    key_span: section.key_span,
                    value: empty,
                });
                entries.last_mut().expect("just pushed")
            }
        };
        if target.value.kind == Kind::Null {
            target.value.kind = Kind::Map(Vec::new());
        }
        let Kind::Map(existing) = &mut target.value.kind else {
            continue;
        };
        for item in items {
            if let Some(mine) = existing.iter().find(|e| e.key == item.key) {
                let what = section.key.trim_end_matches('s');
                cx.error(
                    mine.key_span,
                    &join(&section.key, &item.key),
                    format!(
                        "{what} `{}` is also defined by the included {}; rename one of them",
                        item.key,
                        from.display()
                    ),
                );
                continue;
            }
            existing.push(item);
        }
    }
}

/// Reads the `x-skiff` entries of the `-f` files: each environment's override fragments, in
/// file order (each is merged onto the app in turn, so `!reset` and `!override` work in them).
fn take_overrides(cx: &mut Cx, entries: Vec<Entry>, selected: &str) -> BTreeMap<String, Vec<Node>> {
    const XSKIFF: Schema = Schema {
        known: &["environments"],
        unsupported: &[],
    };
    const FRAGMENT: Schema = Schema {
        known: &["services", "networks", "volumes", "secrets", "configs"],
        unsupported: &[],
    };
    let envs_path = "x-skiff.environments";
    let mut out: BTreeMap<String, Vec<Node>> = BTreeMap::new();
    let mut first = None;
    for x in entries {
        first.get_or_insert(x.key_span);
        let Some(envs) = cx
            .fields(&x.value, "x-skiff", &XSKIFF)
            .and_then(|f| f.get("environments"))
        else {
            continue;
        };
        for e in cx.map(envs, envs_path).unwrap_or_default() {
            let p = join(envs_path, &e.key);
            if !out.contains_key(&e.key) && out.len() == MAX_ENVIRONMENTS {
                // Each environment is decoded in full to check it: bound the work a file can ask for.
                let message = format!("more than {MAX_ENVIRONMENTS} environments; a file may describe at most {MAX_ENVIRONMENTS}");
                cx.error(e.key_span, &p, message);
                break;
            }
            if !names::check_label(cx, e.key_span, &p, "environment", &e.key)
                || cx.fields(&e.value, &p, &FRAGMENT).is_none()
            {
                continue;
            }
            // Only the keys a fragment may hold: the others were just reported, here.
            let mut fragment = e.value.clone();
            fragment.kind = match fragment.kind {
                Kind::Map(entries) => Kind::Map(
                    entries
                        .into_iter()
                        .filter(|x| FRAGMENT.known.contains(&x.key.as_str()))
                        .collect(),
                ),
                _ => Kind::Map(Vec::new()),
            };
            out.entry(e.key.clone()).or_default().push(fragment);
        }
    }
    if let Some(span) = first.filter(|_| !out.is_empty() && !out.contains_key(selected)) {
        let known: Vec<&str> = out.keys().map(String::as_str).collect();
        let message = format!(
            "no overrides for environment `{selected}` (there are: {}); the base file applies as it is",
            known.join(", ")
        );
        cx.warning(span, envs_path, message);
    }
    out
}

/// `--project-name`, else `name:`, else the project directory's name made into a DNS label.
fn app_name(cx: &mut Cx, root: &Node, options: &Options, project_dir: &Path) -> Option<String> {
    if let Some(name) = &options.project_name {
        let span = Span {
            file: yaml::COMMAND_LINE,
            line: 0,
            col: 0,
        };
        return names::check_label(cx, span, "--project-name", "app", name).then(|| name.clone());
    }
    if let Some(n) = root.get("name").filter(|n| n.kind != Kind::Null) {
        let name = cx.non_empty(n, "name")?;
        return names::check_label(cx, n.span, "name", "app", &name).then_some(name);
    }
    let dir_name = project_dir
        .components()
        .next_back()
        .and_then(|c| match c {
            Component::Normal(s) => s.to_str(),
            _ => None,
        })
        .unwrap_or("");
    let name = names::suggest_label(dir_name);
    if name.is_empty() {
        cx.error(
            root.span,
            "name",
            "the app has no name; set `name:` in the file or pass --project-name",
        );
        return None;
    }
    Some(name)
}

fn check_environment(cx: &mut Cx, env: &str) {
    names::check_label(
        cx,
        Span {
            file: yaml::COMMAND_LINE,
            line: 0,
            col: 0,
        },
        "--env",
        "environment",
        env,
    );
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
