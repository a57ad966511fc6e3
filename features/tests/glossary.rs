//! The glossary (`features/README.md`) and the step library (`tests/steps/`) must agree:
//! every example phrase in the glossary is a step the library implements, with the same
//! keyword, and every step the library implements has an example in the glossary. Steps
//! are cucumber expressions or exact phrases, never regular expressions.

use regex::Regex;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A step the library implements.
#[derive(Debug)]
struct Implemented {
    keyword: &'static str,
    phrase: String,
    matcher: Regex,
    file: PathBuf,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

fn step_sources() -> Vec<(PathBuf, String)> {
    let directory = root().join("tests/steps");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&directory)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", directory.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = read(&path);
            (path, text)
        })
        .collect()
}

/// The regular expression of every custom parameter, read from its `#[param]` attribute.
fn custom_parameters(sources: &[(PathBuf, String)]) -> BTreeMap<String, String> {
    let attribute =
        Regex::new(r#"#\[param\(\s*name\s*=\s*"(\w+)",\s*regex\s*=\s*r?"([^"]*)"\s*\)\]"#)
            .expect("a valid pattern");
    sources
        .iter()
        .flat_map(|(_, text)| {
            attribute
                .captures_iter(text)
                .map(|found| (found[1].to_owned(), found[2].to_owned()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A cucumber expression as a regular expression matching a whole step.
fn expression_matcher(expression: &str, parameters: &BTreeMap<String, String>) -> Regex {
    let placeholder = Regex::new(r"\{(\w*)\}").expect("a valid pattern");
    let mut pattern = String::from("^");
    let mut rest = 0;
    for found in placeholder.captures_iter(expression) {
        let whole = found.get(0).expect("a match");
        pattern.push_str(&regex::escape(&expression[rest..whole.start()]));
        let name = &found[1];
        let parameter = match name {
            "string" => r#""[^"]*""#.to_owned(),
            "int" => r"-?\d+".to_owned(),
            "float" => r"-?\d*\.?\d+".to_owned(),
            "word" => r"[^\s]+".to_owned(),
            "" => ".*".to_owned(),
            custom => format!(
                "(?:{})",
                parameters
                    .get(custom)
                    .unwrap_or_else(|| panic!("the parameter {{{custom}}} is not defined"))
            ),
        };
        pattern.push_str(&parameter);
        rest = whole.end();
    }
    pattern.push_str(&regex::escape(&expression[rest..]));
    pattern.push('$');
    Regex::new(&pattern).expect("a valid step pattern")
}

fn implemented_steps() -> Vec<Implemented> {
    let sources = step_sources();
    let parameters = custom_parameters(&sources);
    let attribute = Regex::new(
        r#"#\[(given|when|then)\(\s*(expr\s*=\s*|regex\s*=\s*)?"((?:[^"\\]|\\.)*)"\s*,?\s*\)\]"#,
    )
    .expect("a valid pattern");
    let any_step = Regex::new(r"#\[(given|when|then)\(").expect("a valid pattern");
    let mut steps = Vec::new();
    for (file, text) in &sources {
        let mut found = 0;
        for step in attribute.captures_iter(text) {
            found += 1;
            let keyword = match &step[1] {
                "given" => "Given",
                "when" => "When",
                _ => "Then",
            };
            let kind = step.get(2).map_or("", |kind| kind.as_str());
            assert!(
                !kind.starts_with("regex"),
                "{}: the step \"{}\" is a regular expression; write it as a cucumber expression an analyst can read",
                file.display(),
                &step[3]
            );
            let phrase = step[3].to_owned();
            let matcher = if kind.is_empty() {
                Regex::new(&format!("^{}$", regex::escape(&phrase))).expect("a valid pattern")
            } else {
                expression_matcher(&phrase, &parameters)
            };
            steps.push(Implemented {
                keyword,
                phrase,
                matcher,
                file: file.clone(),
            });
        }
        assert_eq!(
            found,
            any_step.find_iter(text).count(),
            "{}: a step attribute is written in a form this test cannot read",
            file.display()
        );
    }
    steps
}

/// `(keyword, phrase)` of every example in the glossary: a list item whose code span
/// starts with Given, When or Then.
fn glossary_examples() -> Vec<(String, String)> {
    let item = Regex::new(r"^\s*- `(Given|When|Then) ([^`]+)`").expect("a valid pattern");
    read(&root().join("README.md"))
        .lines()
        .filter_map(|line| item.captures(line))
        .map(|found| (found[1].to_owned(), found[2].to_owned()))
        .collect()
}

#[test]
fn every_step_in_the_glossary_is_implemented() {
    let steps = implemented_steps();
    let examples = glossary_examples();
    assert!(
        examples.len() >= 10,
        "the glossary lists too few steps: {examples:?}"
    );
    let missing: Vec<String> = examples
        .iter()
        .filter(|(keyword, phrase)| {
            !steps
                .iter()
                .any(|step| step.keyword == keyword && step.matcher.is_match(phrase))
        })
        .map(|(keyword, phrase)| format!("{keyword} {phrase}"))
        .collect();
    assert!(
        missing.is_empty(),
        "the glossary shows steps the library does not implement:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn every_implemented_step_is_in_the_glossary() {
    let examples = glossary_examples();
    let missing: Vec<String> = implemented_steps()
        .iter()
        .filter(|step| {
            !examples
                .iter()
                .any(|(keyword, phrase)| step.keyword == keyword && step.matcher.is_match(phrase))
        })
        .map(|step| format!("{} {} ({})", step.keyword, step.phrase, step.file.display()))
        .collect();
    assert!(
        missing.is_empty(),
        "the library implements steps the glossary does not show with an example:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn expressions_match_what_analysts_write() {
    let parameters = BTreeMap::from([("money".to_owned(), r"-?\d+(?:\.\d+)? [A-Z]{3}".to_owned())]);
    let matcher = expression_matcher("the payer pays {money}", &parameters);
    assert!(matcher.is_match("the payer pays 400.00 USD"));
    assert!(!matcher.is_match("the payer pays 400.00"));
    assert!(!matcher.is_match("the payer pays 400.00 USD to the member"));
    let matcher = expression_matcher(
        "the member {string} belongs to the family {string}",
        &parameters,
    );
    assert!(matcher.is_match(r#"the member "M-2001" belongs to the family "Rivera""#));
}
