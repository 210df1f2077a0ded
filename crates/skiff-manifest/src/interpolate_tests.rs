use super::*;
use crate::diag::Severity;
use crate::yaml::{parse, Limits, MergeTag};

/// FOO=first, BAR="" (set but empty), EMPTY="" too; anything else is unset.
fn env(name: &str) -> Option<String> {
    match name {
        "FOO" => Some("first".into()),
        "BAR" | "EMPTY" => Some(String::new()),
        "PORT" => Some("8080".into()),
        _ => None,
    }
}

fn ok(text: &str) -> String {
    match interpolate_str(text, &env) {
        Ok(done) => done.value,
        Err(e) => panic!("{text:?} failed: {e}"),
    }
}

fn err(text: &str) -> String {
    match interpolate_str(text, &env) {
        Ok(done) => panic!("{text:?} gave {:?}, expected an error", done.value),
        Err(e) => e.to_string(),
    }
}

fn unset(text: &str) -> Vec<String> {
    interpolate_str(text, &env).unwrap().unset
}

#[test]
fn text_without_variables_is_unchanged() {
    assert_eq!(ok(""), "");
    assert_eq!(ok("nginx:1.25"), "nginx:1.25");
    assert_eq!(ok("no dollars {here}"), "no dollars {here}");
}

#[test]
fn plain_and_braced_variables() {
    assert_eq!(ok("$FOO"), "first");
    assert_eq!(ok("${FOO}"), "first");
    assert_eq!(ok("This $FOO var"), "This first var");
    assert_eq!(ok("This ${FOO} var"), "This first var");
    assert_eq!(ok("${FOO}${FOO}"), "firstfirst");
    assert_eq!(ok("${FOO}x${PORT}"), "firstx8080");
    // A plain name stops at the first character that cannot be in a name.
    assert_eq!(ok("$FOO-bar"), "first-bar");
    assert_eq!(ok("$FOO.bar"), "first.bar");
    assert_eq!(ok("$FOOx"), "");
    assert_eq!(ok("${FOO}x"), "firstx");
    assert_eq!(ok("$_"), "");
    assert_eq!(ok("${foo}"), "", "names are case-sensitive");
}

#[test]
fn unset_variables_read_empty_and_are_reported_once_in_order() {
    let done = interpolate_str("a${NOPE}b$ALSO_NOPE${NOPE}c$FOO", &env).unwrap();
    assert_eq!(done.value, "abcfirst");
    assert_eq!(done.unset, ["NOPE", "ALSO_NOPE"]);
    // Set but empty is not unset.
    assert_eq!(unset("${BAR}$EMPTY"), Vec::<String>::new());
}

#[test]
fn dollar_dollar_is_a_literal_dollar() {
    assert_eq!(ok("$$"), "$");
    assert_eq!(ok("$${foo}"), "${foo}");
    assert_eq!(ok("$$FOO"), "$FOO");
    assert_eq!(ok("$$$FOO"), "$first");
    assert_eq!(ok("a$$$$b"), "a$$b");
    assert_eq!(unset("$${NOPE}"), Vec::<String>::new());
}

#[test]
fn a_dollar_before_anything_else_stays_as_written() {
    assert_eq!(ok("$1"), "$1");
    assert_eq!(ok("cost: $ 5"), "cost: $ 5");
    assert_eq!(ok("trailing $"), "trailing $");
    assert_eq!(ok("$}"), "$}");
    assert_eq!(ok("$-x"), "$-x");
    assert_eq!(ok("$é"), "$é");
    assert_eq!(ok("awk '{print $1}'"), "awk '{print $1}'");
}

#[test]
fn default_when_unset_or_empty() {
    assert_eq!(ok("ok ${NOPE:-def}"), "ok def");
    assert_eq!(ok("ok ${BAR:-def}"), "ok def");
    assert_eq!(ok("ok ${FOO:-def}"), "ok first");
    assert_eq!(ok("${NOPE:-}"), "");
    assert_eq!(unset("${NOPE:-def}"), Vec::<String>::new());
}

#[test]
fn default_when_unset_only() {
    assert_eq!(ok("ok ${NOPE-def}"), "ok def");
    assert_eq!(ok("ok ${BAR-def}"), "ok ");
    assert_eq!(ok("ok ${FOO-def}"), "ok first");
    assert_eq!(unset("${NOPE-}"), Vec::<String>::new());
}

#[test]
fn the_first_operator_after_the_name_wins() {
    assert_eq!(ok("ok ${BAR:-/non:-alphanumeric}"), "ok /non:-alphanumeric");
    assert_eq!(ok("${NOPE-myerror?msg}"), "myerror?msg");
    assert_eq!(ok("${NOPE-a:-b}"), "a:-b");
    assert_eq!(ok("${NOPE:-a-b}"), "a-b");
    assert_eq!(ok("${FOO?bar-baz}"), "first");
    assert_eq!(ok("${FOO:+a:-b}"), "a:-b");
    assert_eq!(
        err("${NOPE?bar-baz}"),
        "required variable `NOPE` is not set: set it in the environment or .env \
         (the file says: bar-baz)"
    );
}

#[test]
fn required_when_unset_or_empty() {
    assert_eq!(ok("ok ${FOO:?err}"), "ok first");
    assert_eq!(
        err("not ok ${DB_PASSWORD:?the database password}"),
        "required variable `DB_PASSWORD` is not set: set it in the environment or .env \
         (the file says: the database password)"
    );
    assert_eq!(
        err("${BAR:?must not be empty}"),
        "required variable `BAR` is empty: give it a value in the environment or .env \
         (the file says: must not be empty)"
    );
    assert_eq!(
        err("${NOPE:?}"),
        "required variable `NOPE` is not set: set it in the environment or .env"
    );
    assert_eq!(
        interpolate_str("${BAR:?}", &env),
        Err(InterpolationError::RequiredEmpty {
            name: "BAR".into(),
            message: String::new()
        })
    );
}

#[test]
fn required_when_unset_only() {
    assert_eq!(ok("ok ${FOO?err}"), "ok first");
    assert_eq!(ok("ok ${BAR?err}"), "ok ");
    assert_eq!(
        interpolate_str("${NOPE?say ${FOO}}", &env),
        Err(InterpolationError::RequiredUnset {
            name: "NOPE".into(),
            message: "say first".into()
        })
    );
    assert_eq!(
        err("${NOPE?}"),
        "required variable `NOPE` is not set: set it in the environment or .env"
    );
}

#[test]
fn replacement_when_set_and_non_empty() {
    assert_eq!(ok("[${FOO:+yes}]"), "[yes]");
    assert_eq!(ok("[${BAR:+yes}]"), "[]");
    assert_eq!(ok("[${NOPE:+yes}]"), "[]");
    assert_eq!(unset("${NOPE:+yes}"), Vec::<String>::new());
}

#[test]
fn replacement_when_set() {
    assert_eq!(ok("[${FOO+yes}]"), "[yes]");
    assert_eq!(ok("[${BAR+yes}]"), "[yes]");
    assert_eq!(ok("[${NOPE+yes}]"), "[]");
    assert_eq!(ok("${FOO+--port=$PORT}"), "--port=8080");
}

#[test]
fn defaults_nest() {
    assert_eq!(ok("${A:-${B:-x}}"), "x");
    assert_eq!(ok("${A:-${FOO:-x}}"), "first");
    assert_eq!(ok("ok ${NOPE-$FOO}"), "ok first");
    assert_eq!(ok("ok ${NOPE-${FOO}}"), "ok first");
    assert_eq!(ok("ok ${NOPE-${FOO} ${FOO}}"), "ok first first");
    assert_eq!(ok("ok ${BAR:-${FOO} ${FOO}}"), "ok first first");
    assert_eq!(ok("${A:-${B:-${C:-deep}}}!"), "deep!");
    assert_eq!(ok("${A:-$$}"), "$");
    assert_eq!(ok("${A:-$${B}}"), "${B}");
    // What follows a braced expression is expanded too.
    assert_eq!(ok("${NOPE:-x}-${FOO}-$PORT"), "x-first-8080");
    let done = interpolate_str("${A:-${B}}", &env).unwrap();
    assert_eq!(
        (done.value.as_str(), done.unset),
        ("", vec!["B".to_owned()])
    );
}

#[test]
fn braces_in_defaults_balance() {
    assert_eq!(ok("${NOPE:-{x}}"), "{x}");
    assert_eq!(ok("${NOPE:-{}}"), "{}");
    assert_eq!(ok("${NOPE:-x}}"), "x}");
    assert_eq!(ok("${NOPE:-}}"), "}");
    assert_eq!(ok("${NOPE:-{}} ${FOO}"), "{} first");
}

#[test]
fn the_branch_not_taken_is_checked_but_not_read() {
    // Not read: no lookup, no warning, no required error.
    assert_eq!(unset("${FOO:-$NOPE}"), Vec::<String>::new());
    assert_eq!(ok("${FOO:-${NOPE:?never}}"), "first");
    assert_eq!(ok("${NOPE:+${ALSO:?never}}"), "");
    // Checked: a syntax error is an error whichever branch it is in.
    assert_eq!(
        err("${FOO:-${}}"),
        "`${}` names no variable (in `${FOO:-${}}`); write `$$` for a literal `$`"
    );
    assert_eq!(
        err("${FOO?${1}}"),
        "`${1}`: `1` is not a variable name, which is letters, digits and `_`, not starting \
         with a digit (in `${FOO?${1}}`)"
    );
}

#[test]
fn unclosed_braces_are_errors() {
    assert_eq!(
        err("${"),
        "`${` has no closing `}` on its line; write `$$` for a literal `$`"
    );
    assert_eq!(
        err("image: ${TAG"),
        "`${TAG` has no closing `}` on its line (in `image: ${TAG`); write `$$` for a literal `$`"
    );
    assert_eq!(
        err("${A:-${B}"),
        "`${A:-${B}` has no closing `}` on its line; write `$$` for a literal `$`"
    );
    assert_eq!(
        err("${NOPE-{}"),
        "`${NOPE-{}` has no closing `}` on its line; write `$$` for a literal `$`"
    );
    // Compose's pattern stops at a newline, so a `${` must close on its own line.
    assert_eq!(
        err("${A:-one\ntwo}"),
        "`${A:-one` has no closing `}` on its line (in `${A:-one\\ntwo}`); \
         write `$$` for a literal `$`"
    );
    assert_eq!(ok("${FOO}\n${PORT}"), "first\n8080");
}

#[test]
fn missing_names_are_errors() {
    assert_eq!(
        err("${}"),
        "`${}` names no variable; write `$$` for a literal `$`"
    );
    assert_eq!(
        err("x ${:-default}"),
        "`${:-default}` names no variable (in `x ${:-default}`); write `$$` for a literal `$`"
    );
    assert_eq!(
        interpolate_str("${?}", &env),
        Err(InterpolationError::MissingName {
            expression: "${?}".into(),
            template: "${?}".into()
        })
    );
}

#[test]
fn invalid_names_are_errors() {
    assert_eq!(
        err("${1A}"),
        "`${1A}`: `1A` is not a variable name, which is letters, digits and `_`, not starting \
         with a digit"
    );
    assert_eq!(
        interpolate_str("${ foo}", &env),
        Err(InterpolationError::InvalidName {
            name: " foo".into(),
            expression: "${ foo}".into(),
            template: "${ foo}".into()
        })
    );
    assert_eq!(
        interpolate_str("${9:-x}", &env),
        Err(InterpolationError::InvalidName {
            name: "9".into(),
            expression: "${9:-x}".into(),
            template: "${9:-x}".into()
        })
    );
    assert!(matches!(
        interpolate_str("${ }", &env),
        Err(InterpolationError::InvalidName { .. })
    ));
    assert!(matches!(
        interpolate_str("${é}", &env),
        Err(InterpolationError::InvalidName { .. })
    ));
}

#[test]
fn bad_modifiers_are_errors() {
    assert_eq!(
        err("${A:x}"),
        "`${A:x}`: expected `}` or one of `:-`, `-`, `:?`, `?`, `:+`, `+` after `A`"
    );
    assert_eq!(
        err("run ${foo!}"),
        "`${foo!}`: expected `}` or one of `:-`, `-`, `:?`, `?`, `:+`, `+` after `foo` \
         (in `run ${foo!}`)"
    );
    for text in ["${foo }", "${A.B}", "${A:}", "${A::-x}", "${A=x}"] {
        assert!(
            matches!(
                interpolate_str(text, &env),
                Err(InterpolationError::BadModifier { .. })
            ),
            "{text}"
        );
    }
}

#[test]
fn the_first_error_in_a_value_is_returned() {
    assert_eq!(
        interpolate_str("${NOPE:?first} ${}", &env),
        Err(InterpolationError::RequiredUnset {
            name: "NOPE".into(),
            message: "first".into()
        })
    );
}

#[test]
fn nesting_is_bounded() {
    let ok_depth = format!("{}x{}", "${A:-".repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
    assert_eq!(ok(&ok_depth), "x");
    let hostile = format!("{}x{}", "${A:-".repeat(100_000), "}".repeat(100_000));
    assert_eq!(
        interpolate_str(&hostile, &env),
        Err(InterpolationError::TooDeep {
            template: hostile.clone(),
            limit: MAX_DEPTH
        })
    );
    let message = err(&hostile);
    assert!(
        message.ends_with("…` nests `${…}` more than 32 levels deep"),
        "{message}"
    );
    assert!(message.len() < 400, "a long value is cut short in messages");
}

#[test]
fn long_values_are_cut_short_in_messages() {
    let long = format!("{} ${{", "x".repeat(500));
    let message = err(&long);
    assert_eq!(
        message,
        format!(
            "`${{` has no closing `}}` on its line (in `{}…`); write `$$` for a literal `$`",
            "x".repeat(ECHO_CHARS)
        )
    );
}

fn cx_files() -> Vec<String> {
    vec!["compose.yaml".to_owned()]
}

fn tree(text: &str) -> Node {
    parse(text, 0, &Limits::default()).unwrap()
}

fn diags(cx: &Cx) -> Vec<String> {
    cx.diags.iter().map(ToString::to_string).collect()
}

#[test]
fn the_tree_is_rewritten_in_place_values_only() {
    let files = cx_files();
    let mut cx = Cx::new(&files);
    let mut root = tree(concat!(
        "services:\n",
        "  web:\n",
        "    image: \"nginx:${FOO}\"\n",
        "    ports: [\"${PORT}:80\", $PORT]\n",
        "    environment:\n",
        "      ${FOO}: $$literal\n",
        "    command: !reset\n",
        "    x-other: plain text\n",
    ));
    let before = root.clone();
    interpolate_tree(&mut cx, &mut root, "", &env);
    assert!(cx.diags.is_empty(), "{:?}", diags(&cx));
    let web = root.get("services").unwrap().get("web").unwrap();
    assert_eq!(web.get("image").unwrap().as_str(), Some("nginx:first"));
    let ports = match &web.get("ports").unwrap().kind {
        Kind::Seq(items) => items.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(ports[0].as_str(), Some("8080:80"));
    // Plain stays plain, so the decoder types `$PORT` as it would a written 8080.
    assert_eq!(
        ports[1].kind,
        Kind::Scalar(Scalar {
            text: "8080".into(),
            plain: true
        })
    );
    let environment = web.get("environment").unwrap().as_map().unwrap();
    assert_eq!(environment[0].key, "${FOO}", "keys are not interpolated");
    assert_eq!(environment[0].value.as_str(), Some("$literal"));
    assert_eq!(web.get("command").unwrap().tag, Some(MergeTag::Reset));
    // Places are kept.
    let old_web = before.get("services").unwrap().get("web").unwrap();
    assert_eq!(
        web.get("image").unwrap().span,
        old_web.get("image").unwrap().span
    );
    assert_eq!(ports[1].span, {
        let Kind::Seq(old) = &old_web.get("ports").unwrap().kind else {
            unreachable!()
        };
        old[1].span
    });
}

#[test]
fn tree_problems_are_located_with_their_key_paths() {
    let files = cx_files();
    let mut cx = Cx::new(&files);
    let mut root = tree(concat!(
        "services:\n",
        "  web:\n",
        "    image: ${TAG}\n",
        "    command: [run, \"${DB_PASSWORD:?the database password}\"]\n",
        "    labels:\n",
        "      a: ${TAG}-again\n",
        "      b: ${OTHER}${}\n",
    ));
    interpolate_tree(&mut cx, &mut root, "", &env);
    assert_eq!(
        diags(&cx),
        [
            "compose.yaml:3:12: warning: services.web.image: variable `TAG` is not set; \
             using an empty string",
            "compose.yaml:4:20: error: services.web.command[1]: required variable `DB_PASSWORD` \
             is not set: set it in the environment or .env (the file says: the database password)",
            "compose.yaml:7:10: error: services.web.labels.b: `${}` names no variable \
             (in `${OTHER}${}`); write `$$` for a literal `$`",
        ]
    );
    assert_eq!(cx.diags.errors().count(), 2);
    assert_eq!(
        cx.diags.warnings().next().unwrap().severity,
        Severity::Warning
    );
    // A value that failed is left as written.
    let labels = root
        .get("services")
        .unwrap()
        .get("web")
        .unwrap()
        .get("labels")
        .unwrap();
    assert_eq!(labels.get("b").unwrap().as_str(), Some("${OTHER}${}"));
    assert_eq!(labels.get("a").unwrap().as_str(), Some("-again"));
}

#[test]
fn a_subtree_is_reported_under_its_own_path() {
    let files = cx_files();
    let mut cx = Cx::new(&files);
    let mut root = tree("- $NOPE\n- [x, \"${NOPE2}\"]\n");
    interpolate_tree(&mut cx, &mut root, "services.web.ports", &env);
    let paths: Vec<&str> = cx.diags.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["services.web.ports[0]", "services.web.ports[1][1]"]);
}

#[test]
fn a_large_file_is_interpolated_quickly() {
    let mut text = String::from("services:\n");
    for i in 0..500 {
        let _ = write!(
            text,
            "  svc{i}:\n    image: registry/app{i}:${{TAG:-latest}}\n    ports: [\"${{PORT}}:80\"]\n\
             \x20   environment:\n      A: plain\n      B: also plain\n      C: $FOO\n\
             \x20   command: [serve, --port, \"80\", --verbose]\n"
        );
    }
    let files = cx_files();
    let mut cx = Cx::new(&files);
    let mut root = tree(&text);
    let started = std::time::Instant::now();
    interpolate_tree(&mut cx, &mut root, "", &env);
    let took = started.elapsed();
    assert!(cx.diags.is_empty());
    let svc = root.get("services").unwrap().get("svc499").unwrap();
    assert_eq!(
        svc.get("image").unwrap().as_str(),
        Some("registry/app499:latest")
    );
    // Generous for unoptimized test builds; a release build takes well under a millisecond.
    assert!(took.as_millis() < 200, "took {took:?}");
}

#[test]
fn a_value_cannot_expand_past_the_size_limit() {
    let big = "x".repeat(100_000);
    let lookup = |name: &str| (name == "A").then(|| big.clone());
    let template = "$A".repeat(20);
    let err = interpolate_str(&template, &lookup).unwrap_err();
    assert!(
        matches!(
            err,
            InterpolationError::TooLong {
                limit: MAX_VALUE_BYTES,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with("expands to more than 1048576 bytes; Skiff accepts values of at most that"),
        "{err}"
    );
}
