//! The regular expressions of `matches` / `not_matches`.
//!
//! A pattern the `regex` crate accepts runs there: linear time in the input, whatever the
//! pattern. Patterns that need a backtracking engine (lookahead, lookbehind, backreferences,
//! as written for Jenkins Generic Webhook Trigger or PCRE) run on `fancy-regex`, with a
//! budget per evaluation:
//! - at most [`BACKTRACK_LIMIT`] backtracking steps (fancy-regex's own counter), and
//! - inputs of at most [`FANCY_MAX_INPUT`] bytes. fancy-regex does not count the work it
//!   hands to the linear engine at each start position, so on long inputs a pattern such as
//!   `(?=a)(a+)+b` is quadratic without ever reaching the step limit; capping the input
//!   bounds that too.
//!
//! An evaluation that would go over the budget does not match: the filter fails with the
//! reason `regex budget exceeded` (fail closed, also for `not_matches`).

/// Backtracking steps one evaluation of a fancy pattern may take.
pub const BACKTRACK_LIMIT: usize = 20_000;
/// Longest input, in bytes, a fancy pattern is run on.
pub const FANCY_MAX_INPUT: usize = 1024;
/// Bounds the compiled size of a user-supplied regex so a hook cannot make the server
/// spend unbounded memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A compiled `matches` pattern.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// Linear time (the `regex` crate).
    Plain(regex::Regex),
    /// Backtracking (`fancy-regex`), within the budget.
    Fancy(Box<fancy_regex::Regex>),
}

/// Why an evaluation gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetExceeded;

impl Pattern {
    /// Compiles with the linear engine when it can, else with the backtracking one. The error
    /// is the message of the engine that explains it best.
    pub fn compile(pattern: &str) -> Result<Self, String> {
        let plain = regex::RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .build();
        let plain_err = match plain {
            Ok(re) => return Ok(Self::Plain(re)),
            Err(e) => e,
        };
        // Only syntax the linear engine lacks is worth a second try; a size-limit or a plain
        // syntax error is reported as the regex crate words it.
        let text = plain_err.to_string();
        let unsupported = text.contains("look-around") || text.contains("backreferences");
        if !unsupported {
            return Err(text);
        }
        fancy_regex::RegexBuilder::new(pattern)
            .backtrack_limit(BACKTRACK_LIMIT)
            .delegate_size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map(|re| Self::Fancy(Box::new(re)))
            .map_err(|e| e.to_string())
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Plain(re) => re.as_str(),
            Self::Fancy(re) => re.as_str(),
        }
    }

    /// True when the pattern runs on the backtracking engine.
    pub fn is_fancy(&self) -> bool {
        matches!(self, Self::Fancy(_))
    }

    /// Whether the pattern matches somewhere in `text`, or `Err` when the budget ran out.
    pub fn is_match(&self, text: &str) -> Result<bool, BudgetExceeded> {
        match self {
            Self::Plain(re) => Ok(re.is_match(text)),
            Self::Fancy(_) if text.len() > FANCY_MAX_INPUT => Err(BudgetExceeded),
            Self::Fancy(re) => re.is_match(text).map_err(|_| BudgetExceeded),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn jenkins_gwt_patterns_compile_and_match() {
        let zeros = "0".repeat(40);
        let sha = "a".repeat(40);
        let p = Pattern::compile(r"^push\s(?!0{40}).{40}\s(?!0{40}).{40}$").unwrap();
        assert!(p.is_fancy());
        assert_eq!(p.is_match(&format!("push {sha} {sha}")), Ok(true));
        assert_eq!(p.is_match(&format!("push {zeros} {sha}")), Ok(false));
        assert_eq!(p.is_match(&format!("push {sha} {zeros}")), Ok(false));
        let p = Pattern::compile(r"^refs/heads/develop ((?!jenkins))").unwrap();
        assert_eq!(p.is_match("refs/heads/develop alice"), Ok(true));
        assert_eq!(p.is_match("refs/heads/develop jenkins"), Ok(false));
        let p = Pattern::compile(r"(?<=v)\d+").unwrap();
        assert_eq!(p.is_match("v12"), Ok(true));
        let p = Pattern::compile(r"^(\w+)-\1$").unwrap();
        assert_eq!(p.is_match("ab-ab"), Ok(true));
        assert_eq!(p.is_match("ab-ba"), Ok(false));
    }

    #[test]
    fn plain_patterns_stay_on_the_linear_engine() {
        let p = Pattern::compile(r"(a+)+$").unwrap();
        assert!(!p.is_fancy());
        // Catastrophic for a backtracking engine; linear here.
        assert_eq!(p.is_match(&format!("{}b", "a".repeat(10_000))), Ok(false));
        assert_eq!(p.is_match(&"a".repeat(10_000)), Ok(true));
    }

    #[test]
    fn catastrophic_fancy_patterns_run_out_of_budget() {
        let input = "a".repeat(10_000);
        for pattern in [r"^(a|aa)+\1b", r"(?=a)(a+)+b", r"^(?!b)(a|a)*\1c"] {
            let p = Pattern::compile(pattern).unwrap();
            assert!(p.is_fancy(), "{pattern}");
            assert_eq!(p.is_match(&input), Err(BudgetExceeded), "{pattern}");
        }
        // Within the input cap, the step limit does the work.
        let p = Pattern::compile(r"^(a|aa)+\1b").unwrap();
        assert_eq!(
            p.is_match(&"a".repeat(FANCY_MAX_INPUT)),
            Err(BudgetExceeded)
        );
    }

    #[test]
    fn bad_patterns_are_refused_with_the_engines_words() {
        assert!(Pattern::compile("(").unwrap_err().contains("unclosed"));
        assert!(Pattern::compile(r"\w{1000}{1000}")
            .unwrap_err()
            .contains("size limit"));
        assert!(Pattern::compile(r"(?<=a(").is_err());
    }

    proptest! {
        /// Both engines agree on plain patterns. (Atoms take at most one quantifier: a stacked
        /// `?+` is a nested repetition for `regex` but possessive for fancy-regex.)
        #[test]
        fn engines_agree_on_plain_patterns(
            atoms in prop::collection::vec(("(a|b)|[ab.]|\\(ab?\\)", "[*+?]?"), 1..5),
            anchored in any::<(bool, bool)>(),
            text in "[ab]{0,12}",
        ) {
            let body: String = atoms.iter().map(|(a, q)| format!("{a}{q}")).collect();
            let pattern = format!("{}{body}{}", if anchored.0 { "^" } else { "" }, if anchored.1 { "$" } else { "" });
            if let (Ok(Pattern::Plain(plain)), Ok(fancy)) = (Pattern::compile(&pattern), fancy_regex::Regex::new(&pattern)) {
                prop_assert_eq!(plain.is_match(&text), fancy.is_match(&text).unwrap(), "{}", pattern);
            }
        }

        /// Whatever the input, a fancy pattern answers within its budget or says it could not.
        #[test]
        fn fancy_evaluations_end(text in "[ab]{0,3000}") {
            let p = Pattern::compile(r"^(?=a)(a|ab|b)*\1$").unwrap();
            let r = p.is_match(&text);
            if text.len() > FANCY_MAX_INPUT {
                prop_assert_eq!(r, Err(BudgetExceeded));
            }
        }
    }
}
