use super::*;

/// HOME and SHELL_ONLY are set; EMPTY is set to ""; anything else is unset.
fn shell(name: &str) -> Option<String> {
    match name {
        "HOME" => Some("/home/me".into()),
        "SHELL_ONLY" => Some("from-shell".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

/// Parses `text`, asserting there were no errors.
fn env(text: &str) -> Vec<(String, String)> {
    let (entries, errors) = parse_dotenv(text, &shell);
    assert!(errors.is_empty(), "{text:?}: {errors:?}");
    entries
}

/// The single value `text` defines.
fn value(text: &str) -> String {
    let entries = env(text);
    assert_eq!(entries.len(), 1, "{text:?}: {entries:?}");
    entries.into_iter().next().unwrap().1
}

/// The errors of `text`, as displayed.
fn errors(text: &str) -> Vec<String> {
    parse_dotenv(text, &shell)
        .1
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn keys_and_values_in_file_order() {
    assert_eq!(
        env("B=2\nA=1\nC=3\n"),
        pairs(&[("B", "2"), ("A", "1"), ("C", "3")])
    );
    assert_eq!(env(""), pairs(&[]));
    assert_eq!(env("\n\n   \n\t\n"), pairs(&[]));
    assert_eq!(env("A=1"), pairs(&[("A", "1")]), "no final newline");
}

#[test]
fn comments_and_blank_lines_are_skipped() {
    assert_eq!(
        env("# a comment\n\n   # indented comment\nA=1\n#B=2\n"),
        pairs(&[("A", "1")])
    );
}

#[test]
fn space_around_the_key_and_separator_is_dropped() {
    assert_eq!(value("  KEY = value"), "value");
    assert_eq!(value("\tKEY\t=\tvalue\t"), "value");
    assert_eq!(
        value("KEY=  value with  inner  spaces  "),
        "value with  inner  spaces"
    );
}

#[test]
fn export_prefix_is_dropped() {
    assert_eq!(env("export KEY=value"), pairs(&[("KEY", "value")]));
    assert_eq!(env("export\t  KEY=value"), pairs(&[("KEY", "value")]));
    // Not a prefix: variables that happen to be called `export…`.
    assert_eq!(env("export=1"), pairs(&[("export", "1")]));
    assert_eq!(env("exported=1"), pairs(&[("exported", "1")]));
}

#[test]
fn yaml_style_colon_separates_too() {
    assert_eq!(env("KEY: value"), pairs(&[("KEY", "value")]));
    assert_eq!(env("KEY:value"), pairs(&[("KEY", "value")]));
    assert_eq!(env("URL: http://x:80/"), pairs(&[("URL", "http://x:80/")]));
    // The first `=` or `:` separates; later ones are part of the value.
    assert_eq!(env("URL=http://x:80/"), pairs(&[("URL", "http://x:80/")]));
}

#[test]
fn names_may_hold_dots_dashes_brackets_and_letters_of_any_script() {
    assert_eq!(
        env("a.propertyKey=d\na[1]=c\nmy-var=e\nárvíztűrő_TÜKÖR=f\n_x9=g"),
        pairs(&[
            ("a.propertyKey", "d"),
            ("a[1]", "c"),
            ("my-var", "e"),
            ("árvíztűrő_TÜKÖR", "f"),
            ("_x9", "g"),
        ])
    );
}

#[test]
fn unquoted_values_lose_inline_comments_and_trailing_space() {
    assert_eq!(value("KEY=value # a comment"), "value");
    assert_eq!(value("KEY=value   #a comment"), "value");
    // Only a space before `#` starts a comment.
    assert_eq!(value("KEY=value#not-a-comment"), "value#not-a-comment");
    assert_eq!(value("KEY=value\t#x"), "value\t#x");
    // As in Compose: the space after `=` is dropped first, so this `#` is the value's start.
    assert_eq!(value("KEY= #x"), "#x");
    assert_eq!(value("KEY="), "");
    assert_eq!(value("KEY=   "), "");
    assert_eq!(value("KEY=a\r\n"), "a", "CRLF line ends");
    assert_eq!(
        value("KEY=it's \"quoted\" inside"),
        "it's \"quoted\" inside"
    );
}

#[test]
fn unquoted_values_are_interpolated() {
    assert_eq!(value("KEY=$HOME/bin"), "/home/me/bin");
    assert_eq!(value("KEY=${HOME}/bin"), "/home/me/bin");
    assert_eq!(value("KEY=${NOPE:-fallback}"), "fallback");
    assert_eq!(value("KEY=${NOPE}"), "");
    assert_eq!(value("KEY=$$HOME"), "$HOME");
    assert_eq!(
        value("KEY=\\n$1"),
        "\\n$1",
        "no escapes outside double quotes"
    );
}

#[test]
fn single_quoted_values_are_literal() {
    assert_eq!(
        value("KEY='$HOME ${HOME} \\n \\t'"),
        "$HOME ${HOME} \\n \\t"
    );
    assert_eq!(value("KEY='  spaced  '"), "  spaced  ");
    assert_eq!(value("KEY='a # b'"), "a # b");
    assert_eq!(value("KEY=''"), "");
    assert_eq!(value("KEY='say \"hi\"'"), "say \"hi\"");
    // Compose's rule: a quote after a backslash does not close, and the backslash stays.
    assert_eq!(value("KEY='it\\'s'"), "it\\'s");
}

#[test]
fn quoted_values_may_span_lines() {
    assert_eq!(
        env("A='one\ntwo'\nB=\"three\nfour\"\nC=5"),
        pairs(&[("A", "one\ntwo"), ("B", "three\nfour"), ("C", "5")])
    );
    assert_eq!(
        value("CERT=\"-----BEGIN-----\nabc\n-----END-----\"\n"),
        "-----BEGIN-----\nabc\n-----END-----"
    );
}

#[test]
fn double_quoted_values_are_unescaped() {
    assert_eq!(value(r#"KEY="a\nb\tc\rd""#), "a\nb\tc\rd");
    assert_eq!(value(r#"KEY="back\\slash""#), "back\\slash");
    assert_eq!(value(r#"KEY="say \"hi\"""#), "say \"hi\"");
    assert_eq!(value(r#"KEY="\a\b\f\v""#), "\x07\x08\x0c\x0b");
    assert_eq!(value(r#"KEY="cost \$5 \$HOME""#), "cost $5 $HOME");
    // Octal: `\0` and exactly three octal digits up to 377, else kept as written.
    assert_eq!(value(r#"KEY="\0101\0123""#), "AS");
    assert_eq!(value(r#"KEY="\0377""#), "\u{ff}");
    assert_eq!(
        value(r#"KEY="\0 \012 \0400 \0089""#),
        r"\0 \012 \0400 \0089"
    );
    // Anything else keeps its backslash.
    assert_eq!(value(r#"KEY="\x41 \c \q \'""#), r"\x41 \c \q \'");
    // Unlike Compose, an escaped backslash before the closing quote does not escape it.
    assert_eq!(value(r#"KEY="C:\\""#), "C:\\");
}

#[test]
fn double_quoted_values_are_interpolated() {
    assert_eq!(value("KEY=\"$HOME and ${NOPE:-x}\""), "/home/me and x");
    assert_eq!(value("KEY=\"a # b\""), "a # b");
    assert_eq!(value("KEY=\"  spaced  \""), "  spaced  ");
    assert_eq!(value("KEY=\"$$HOME\""), "$HOME");
}

#[test]
fn a_comment_may_follow_a_closing_quote() {
    assert_eq!(value("KEY='a' # comment"), "a");
    assert_eq!(value("KEY=\"a\"#comment"), "a");
    assert_eq!(value("KEY=\"a\"   \t"), "a");
}

#[test]
fn text_after_a_closing_quote_is_an_error() {
    assert_eq!(
        errors("A=\"x\" B=\"y\"\nC='z'junk"),
        [
            "line 1: unexpected `B=\"y\"` after the closing `\"`; a comment there starts with `#`",
            "line 2: unexpected `junk` after the closing `'`; a comment there starts with `#`",
        ]
    );
    assert_eq!(
        errors("A=\"multi\nline\" junk\n"),
        ["line 2: unexpected `junk` after the closing `\"`; a comment there starts with `#`"]
    );
}

#[test]
fn earlier_entries_come_before_the_lookup() {
    assert_eq!(
        env("A=one\nB=${A}-two\nHOME=/override\nC=$HOME\nD=\"$B\"\nE='$A'"),
        pairs(&[
            ("A", "one"),
            ("B", "one-two"),
            ("HOME", "/override"),
            ("C", "/override"),
            ("D", "one-two"),
            ("E", "$A"),
        ])
    );
    // Only earlier: a later definition is not seen.
    assert_eq!(
        env("B=${A:-unset}\nA=1"),
        pairs(&[("B", "unset"), ("A", "1")])
    );
    // The lookup fills in what the file does not define.
    assert_eq!(value("X=$SHELL_ONLY"), "from-shell");
}

#[test]
fn a_bare_key_is_taken_from_the_lookup() {
    assert_eq!(
        env("HOME\nNOPE\nEMPTY\n  SHELL_ONLY  \nexport HOME"),
        pairs(&[
            ("HOME", "/home/me"),
            ("EMPTY", ""),
            ("SHELL_ONLY", "from-shell")
        ])
    );
    // Set and unset in the lookup, after a definition in the file.
    assert_eq!(env("HOME=x\nHOME"), pairs(&[("HOME", "/home/me")]));
    assert_eq!(env("NOPE=x\nNOPE"), pairs(&[("NOPE", "x")]));
    assert_eq!(
        env("export"),
        pairs(&[]),
        "a variable called `export`, unset"
    );
}

#[test]
fn a_later_duplicate_replaces_the_value_in_the_first_place() {
    assert_eq!(
        env("A=1\nB=2\nA=3\nC=4\nB=5"),
        pairs(&[("A", "3"), ("B", "5"), ("C", "4")])
    );
    assert_eq!(env("A=1\nA=${A}${A}"), pairs(&[("A", "11")]));
}

#[test]
fn a_byte_order_mark_is_skipped() {
    assert_eq!(env("\u{feff}A=1\n"), pairs(&[("A", "1")]));
}

#[test]
fn bad_names_are_errors() {
    assert_eq!(
        errors("1BAD=x"),
        ["line 1: variable name `1BAD` must start with a letter or `_`"]
    );
    assert_eq!(
        errors("KEY VALUE"),
        ["line 1: variable name `KEY VALUE` contains a space; write `NAME=value`"]
    );
    assert_eq!(
        errors("MY KEY=1"),
        ["line 1: variable name `MY KEY` contains a space; write `NAME=value`"]
    );
    assert_eq!(
        errors("FOO$=1"),
        ["line 1: unexpected character `$` in variable name `FOO$`"]
    );
    assert_eq!(
        errors("%!(EXTRA string)=foo"),
        ["line 1: unexpected character `%` in variable name `%!(EXTRA string)`"]
    );
    assert_eq!(
        errors("KEY # comment"),
        ["line 1: unexpected character `#` in variable name `KEY # comment`"]
    );
    assert_eq!(errors("=x"), ["line 1: missing variable name before `=`"]);
    assert_eq!(errors(": x"), ["line 1: missing variable name before `:`"]);
    assert_eq!(
        errors("-x=1"),
        ["line 1: variable name `-x` must start with a letter or `_`"]
    );
}

#[test]
fn unterminated_quotes_are_errors() {
    assert_eq!(
        errors("A='abc\nB=2"),
        ["line 1: the value's opening `'` is never closed"]
    );
    assert_eq!(
        errors("A=1\nB=\"abc"),
        ["line 2: the value's opening `\"` is never closed"]
    );
    // Compose's rule for single quotes: this one is escaped, so the value never closes.
    assert_eq!(
        errors("A='C:\\'"),
        ["line 1: the value's opening `'` is never closed"]
    );
}

#[test]
fn interpolation_errors_name_the_line() {
    assert_eq!(
        errors("A=1\nPASSWORD=${DB_PASSWORD:?set the database password}"),
        [
            "line 2: required variable `DB_PASSWORD` is not set: set it in the environment \
             or .env (the file says: set the database password)"
        ]
    );
    assert_eq!(
        errors("A=\"x ${\""),
        ["line 1: `${` has no closing `}` on its line (in `x ${`); write `$$` for a literal `$`"]
    );
    assert_eq!(
        errors("A=${EMPTY:?}"),
        ["line 1: required variable `EMPTY` is empty: give it a value in the environment or .env"]
    );
}

#[test]
fn every_bad_line_is_reported_and_the_good_ones_kept() {
    let text = "\
# settings
GOOD=1
1BAD=x
KEY VALUE
OPEN='never closed
ALSO_GOOD=\"two
lines\"
BROKEN=${
export LAST=${GOOD}
";
    let (entries, errors) = parse_dotenv(text, &shell);
    assert_eq!(
        entries,
        pairs(&[("GOOD", "1"), ("ALSO_GOOD", "two\nlines"), ("LAST", "1")])
    );
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "line 3: variable name `1BAD` must start with a letter or `_`",
            "line 4: variable name `KEY VALUE` contains a space; write `NAME=value`",
            "line 5: the value's opening `'` is never closed",
            "line 8: `${` has no closing `}` on its line; write `$$` for a literal `$`",
        ]
    );
    assert_eq!(
        errors[0],
        DotenvError {
            line: 3,
            message: "variable name `1BAD` must start with a letter or `_`".into()
        }
    );
}

#[test]
fn line_numbers_count_blank_comment_and_continuation_lines() {
    let text = "\n\n# c\nA='x\ny\nz'\n\n\tB=\"p\nq\"\n1C=3\n";
    assert_eq!(
        errors(text),
        ["line 10: variable name `1C` must start with a letter or `_`"]
    );
    assert_eq!(errors("A=1\r\n\r\n2B=2\r\n").len(), 1);
    assert_eq!(
        errors("A=1\r\n\r\n2B=2\r\n")[0],
        "line 3: variable name `2B` must start with a letter or `_`"
    );
}
