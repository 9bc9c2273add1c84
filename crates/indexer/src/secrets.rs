//! Secrets: the well-known credential files a run skips, and the high-confidence secrets whose
//! chunks it withholds from the sink.
//!
//! Both lists aim at certainty, not recall: a generic "password = …" is not a finding, an
//! `AKIA…` key id with sixteen random characters is. Every finding is a rule name and a line
//! range, never the secret's text, so a finding can be logged.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

use crate::change_set::Chunk;

/// One secret found in a text: which rule matched, on which lines (1-based, inclusive). It
/// holds no part of the secret itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretFinding {
    /// First line of the secret.
    pub first_line: u32,
    /// Last line of the secret (a private key block spans several).
    pub last_line: u32,
    /// The rule's name, for example `aws_access_key_id` (see docs/SECURITY.md for the list).
    pub rule: &'static str,
}

/// The `.env.*` suffixes of files meant to be committed: templates whose values are
/// stand-ins such as `changeme`. They are indexed (and their lines still scanned for secrets).
const ENV_TEMPLATE_SUFFIXES: [&str; 4] = ["example", "sample", "template", "dist"];

/// File names (compared case-insensitively) that hold credentials by convention.
const SECRET_FILE_NAMES: [&str; 7] = [
    ".npmrc",
    ".pypirc",
    ".netrc",
    "_netrc",
    ".git-credentials",
    ".pgpass",
    ".htpasswd",
];

/// Extensions of private keys and keystores.
const SECRET_EXTENSIONS: [&str; 6] = ["pem", "key", "jks", "keystore", "p12", "pfx"];

/// Prefixes of SSH private key files (their `.pub` halves are indexed).
const SSH_KEY_PREFIXES: [&str; 4] = ["id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"];

/// Extensions of source and documentation files: `credentials.rs` is code about credentials,
/// not a credentials file, so `credentials*` files with these extensions are indexed.
const CODE_EXTENSIONS: [&str; 36] = [
    "rs", "go", "py", "pyi", "rb", "js", "mjs", "cjs", "ts", "tsx", "jsx", "java", "kt", "kts",
    "scala", "swift", "c", "h", "cc", "cpp", "hpp", "cs", "php", "ex", "exs", "erl", "clj", "lua",
    "dart", "vue", "svelte", "md", "rst", "adoc", "html", "css",
];

/// True when the file at `path` (relative, `/`-separated) is a well-known secret file: `.env`,
/// `.envrc` (direnv) and `.env.*` (but not `.env.example`, `.env.sample`, `.env.template`, `.env.dist`), `*.pem`,
/// `*.key`, SSH private keys (`id_rsa*`, `id_dsa*`, `id_ecdsa*`, `id_ed25519*`, not `*.pub`),
/// `.npmrc`, `.pypirc`, `.netrc`, `.git-credentials`, `.pgpass`, `.htpasswd`, `credentials*`
/// (except source and doc files such as `credentials.rs`), and keystores (`*.jks`,
/// `*.keystore`, `*.p12`, `*.pfx`). Only the file name counts, in any letter case.
///
/// ```
/// assert!(indexer::is_secret_path("deploy/.env.production"));
/// assert!(indexer::is_secret_path(".aws/credentials"));
/// assert!(!indexer::is_secret_path(".env.example"));
/// assert!(!indexer::is_secret_path("home/.ssh/id_ed25519.pub"));
/// assert!(!indexer::is_secret_path("src/credentials.rs"));
/// ```
pub fn is_secret_path(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    let extension = name.rsplit_once('.').map(|(_, ext)| ext);
    if name == ".env" || name == ".envrc" {
        return true;
    }
    if name.starts_with(".env.") {
        return !extension.is_some_and(|ext| ENV_TEMPLATE_SUFFIXES.contains(&ext));
    }
    if SECRET_FILE_NAMES.contains(&name.as_str()) {
        return true;
    }
    if extension.is_some_and(|ext| SECRET_EXTENSIONS.contains(&ext)) {
        return true;
    }
    if SSH_KEY_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return extension != Some("pub");
    }
    if name.starts_with("credentials") {
        return !extension.is_some_and(|ext| CODE_EXTENSIONS.contains(&ext));
    }
    false
}

/// How a rule's match is confirmed beyond the pattern.
#[derive(Debug, Clone, Copy)]
enum Check {
    /// A private key header followed by key material; the finding runs to the footer.
    PrivateKeyBlock,
    /// The captured part looks random (many distinct characters), not a stand-in such as `changeme`.
    Random,
    /// Random, with both upper- and lower-case letters (tells keys from hex digests and
    /// kebab-case names that share the prefix).
    RandomMixedCase,
}

/// A detection rule: group 1 of `pattern` is the part that must pass `check`.
struct Rule {
    name: &'static str,
    pattern: &'static str,
    check: Check,
}

/// `(?-u:\b)` is an ASCII word boundary: a Unicode one would keep the regex engine off its
/// fast DFA path for non-ASCII text.
const RULES: &[Rule] = &[
    Rule {
        name: "private_key",
        pattern: r"(-----BEGIN[A-Z0-9 ]{0,30}PRIVATE KEY(?: BLOCK)?-----)",
        check: Check::PrivateKeyBlock,
    },
    Rule {
        name: "aws_access_key_id",
        pattern: r"(?-u:\b)(?:AKIA|ASIA)([A-Z0-9]{16})(?-u:\b)",
        check: Check::Random,
    },
    Rule {
        name: "aws_secret_access_key",
        pattern: r#"(?i)aws_?secret_?(?:access_?)?key["']?\s{0,4}[:=]{1,2}\s{0,4}["']?([A-Za-z0-9/+]{40,})"#,
        check: Check::Random,
    },
    Rule {
        name: "azure_storage_key",
        pattern: r"(?:AccountKey|SharedAccessKey)\s{0,4}=\s{0,4}([A-Za-z0-9+/]{40,}={0,2})",
        check: Check::Random,
    },
    Rule {
        name: "github_token",
        pattern: r"(?-u:\b)(?:ghp|gho|ghu|ghs|ghr)_([A-Za-z0-9]{36,})",
        check: Check::Random,
    },
    Rule {
        name: "github_fine_grained_token",
        pattern: r"(?-u:\b)github_pat_([A-Za-z0-9_]{60,})",
        check: Check::Random,
    },
    Rule {
        name: "gitlab_token",
        pattern: r"(?-u:\b)glpat-([A-Za-z0-9_-]{20,})",
        check: Check::Random,
    },
    Rule {
        name: "slack_token",
        pattern: r"(?-u:\b)xox[baprs]-([0-9]{8,}-[A-Za-z0-9-]{8,})",
        check: Check::Random,
    },
    Rule {
        name: "slack_webhook",
        pattern: r"hooks\.slack\.com/services/(T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{20,})",
        check: Check::Random,
    },
    Rule {
        name: "stripe_live_key",
        pattern: r"(?-u:\b)[sr]k_live_([A-Za-z0-9]{20,})",
        check: Check::Random,
    },
    Rule {
        name: "openai_key",
        pattern: r"(?-u:\b)sk-(?:(?:proj|svcacct|admin)-)?([A-Za-z0-9_-]{32,})",
        check: Check::RandomMixedCase,
    },
    Rule {
        name: "anthropic_key",
        pattern: r"(?-u:\b)sk-ant-[a-z]{2,8}[0-9]{2}-([A-Za-z0-9_-]{80,})",
        check: Check::Random,
    },
    Rule {
        name: "npm_token",
        pattern: r"(?-u:\b)npm_([A-Za-z0-9]{36,})",
        check: Check::Random,
    },
    Rule {
        name: "pypi_token",
        pattern: r"(?-u:\b)pypi-(AgE[A-Za-z0-9_-]{50,})",
        check: Check::Random,
    },
    Rule {
        name: "google_api_key",
        pattern: r"(?-u:\b)AIza([0-9A-Za-z_-]{35,})",
        check: Check::Random,
    },
    Rule {
        name: "huggingface_token",
        pattern: r"(?-u:\b)hf_([A-Za-z0-9]{34,})",
        check: Check::RandomMixedCase,
    },
];

/// The footer that ends a private key block.
const PRIVATE_KEY_END: &str = r"-----END[A-Z0-9 ]{0,30}PRIVATE KEY(?: BLOCK)?-----";
/// Key material must start this many lines after the header at most (the header line itself
/// for a key inside a JSON string; after `Proc-Type` and `DEK-Info` lines for an encrypted one).
const KEY_MATERIAL_WITHIN_LINES: usize = 4;
/// A run of base64 this long is key material; PEM lines are 64 characters.
const KEY_MATERIAL_RUN: usize = 40;

/// The compiled rules: one set to tell in a single pass whether a text holds anything, and the
/// rules one by one to locate what it holds.
struct Detector {
    any: RegexSet,
    each: Vec<Regex>,
    key_end: Regex,
}

static DETECTOR: LazyLock<Detector> = LazyLock::new(|| {
    let patterns = RULES.iter().map(|rule| rule.pattern);
    Detector {
        any: RegexSet::new(patterns.clone()).expect("the secret rules are valid regexes"),
        each: patterns
            .map(|p| Regex::new(p).expect("each secret rule is a valid regex"))
            .collect(),
        key_end: Regex::new(PRIVATE_KEY_END).expect("the key footer is a valid regex"),
    }
});

/// The high-confidence secrets in `text`, sorted by line: private key blocks (PEM and OpenSSH,
/// also inside JSON strings as in GCP service-account files), AWS access key ids and secret
/// keys, Azure storage keys, GitHub, GitLab, Slack, Stripe live, OpenAI, Anthropic, npm, PyPI,
/// Google API and Hugging Face tokens. Placeholders (`AKIAXXXXXXXXXXXXXXXX`, AWS's
/// documentation `…EXAMPLE` keys) are not findings.
///
/// ```
/// // (Split so that secret scanners run on this source do not flag the example.)
/// let text = format!("region = \"eu-west-1\"\nkey_id = \"{}{}\"\n", "AKIA", "4JQXZ7ORW2N5KT3B");
/// let found = indexer::find_secrets(&text);
/// assert_eq!(found.len(), 1);
/// assert_eq!((found[0].rule, found[0].first_line), ("aws_access_key_id", 2));
/// assert!(indexer::find_secrets("key_id = \"AKIAIOSFODNN7EXAMPLE\"\n").is_empty());
/// ```
pub fn find_secrets(text: &str) -> Vec<SecretFinding> {
    let detector = &*DETECTOR;
    let matched = detector.any.matches(text);
    if !matched.matched_any() {
        return Vec::new();
    }
    let mut spans: Vec<(&'static str, usize, usize)> = Vec::new();
    for index in matched.iter() {
        let rule = &RULES[index];
        for captures in detector.each[index].captures_iter(text) {
            let Some(part) = captures.get(1) else {
                continue;
            };
            let end = match rule.check {
                Check::PrivateKeyBlock => private_key_block_end(detector, text, part.end()),
                Check::Random => looks_random(part.as_str()).then_some(part.end()),
                Check::RandomMixedCase => {
                    (looks_random(part.as_str()) && mixed_case(part.as_str())).then_some(part.end())
                }
            };
            if let Some(end) = end {
                spans.push((rule.name, part.start(), end));
            }
        }
    }
    let newlines: Vec<usize> = text.match_indices('\n').map(|(i, _)| i).collect();
    let line_of = |offset: usize| -> u32 {
        u32::try_from(newlines.partition_point(|&nl| nl < offset) + 1).unwrap_or(u32::MAX)
    };
    let mut findings: Vec<SecretFinding> = spans
        .into_iter()
        .map(|(rule, start, end)| SecretFinding {
            first_line: line_of(start),
            last_line: line_of(end.saturating_sub(1).max(start)),
            rule,
        })
        .collect();
    findings.sort_unstable();
    findings.dedup();
    findings
}

/// Removes from `chunks` (cut from `text`) every chunk that overlaps a secret; returns how
/// many were removed.
pub(crate) fn withhold(text: &str, chunks: &mut Vec<Chunk>) -> u64 {
    let findings = find_secrets(text);
    if findings.is_empty() {
        return 0;
    }
    let before = chunks.len();
    chunks.retain(|chunk| {
        !findings
            .iter()
            .any(|f| f.first_line <= chunk.end_line && chunk.start_line <= f.last_line)
    });
    (before - chunks.len()) as u64
}

/// Where the private key block whose header ends at `after` ends: at its footer, or at the end
/// of the text when the footer is missing. `None` when no key material follows the header
/// (a parser's constant, a doc line), which is not a secret.
fn private_key_block_end(detector: &Detector, text: &str, after: usize) -> Option<usize> {
    let rest = &text[after..];
    let window_end = rest
        .match_indices('\n')
        .nth(KEY_MATERIAL_WITHIN_LINES)
        .map_or(rest.len(), |(i, _)| i);
    if !has_base64_run(&rest[..window_end], KEY_MATERIAL_RUN) {
        return None;
    }
    Some(
        detector
            .key_end
            .find(rest)
            .map_or(text.len(), |footer| after + footer.end()),
    )
}

fn has_base64_run(text: &str, length: usize) -> bool {
    let mut run = 0;
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'+' || byte == b'/' {
            run += 1;
            if run >= length {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// Random-looking: at least 6 distinct characters and one distinct character per 4 (a random
/// 16-character key has about 13), and not AWS's documentation example key (`...EXAMPLE`).
fn looks_random(part: &str) -> bool {
    if part.contains("EXAMPLE") {
        return false;
    }
    let mut seen = [false; 128];
    let mut distinct = 0;
    for byte in part.bytes().filter(u8::is_ascii) {
        if !seen[usize::from(byte)] {
            seen[usize::from(byte)] = true;
            distinct += 1;
        }
    }
    distinct >= 6 && distinct * 4 >= part.len()
}

fn mixed_case(part: &str) -> bool {
    part.bytes().any(|b| b.is_ascii_uppercase()) && part.bytes().any(|b| b.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules_in(text: &str) -> Vec<&'static str> {
        find_secrets(text).into_iter().map(|f| f.rule).collect()
    }

    /// Pseudo-random characters from `alphabet`, deterministic per seed.
    fn random(alphabet: &str, len: usize, seed: u64) -> String {
        let chars: Vec<char> = alphabet.chars().collect();
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                chars[(state >> 33) as usize % chars.len()]
            })
            .collect()
    }

    const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const UPPER_DIGITS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const BASE64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    fn pem_body(lines: usize) -> String {
        (0..lines)
            .map(|i| random(BASE64, 64, i as u64) + "\n")
            .collect()
    }

    #[test]
    fn each_rule_finds_its_secret() {
        let cases = [
            (
                "private_key",
                format!(
                    "-----BEGIN RSA PRIVATE KEY-----\n{}-----END RSA PRIVATE KEY-----\n",
                    pem_body(3)
                ),
            ),
            (
                "aws_access_key_id",
                format!("id = AKIA{}\n", random(UPPER_DIGITS, 16, 1)),
            ),
            (
                "aws_access_key_id",
                format!("\"ASIA{}\"", random(UPPER_DIGITS, 16, 2)),
            ),
            (
                "aws_secret_access_key",
                format!("aws_secret_access_key = {}\n", random(BASE64, 40, 3)),
            ),
            (
                "azure_storage_key",
                format!(
                    "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={}==;EndpointSuffix=core.windows.net",
                    random(BASE64, 86, 4)
                ),
            ),
            ("github_token", format!("ghp_{}", random(ALNUM, 36, 5))),
            (
                "github_token",
                format!("token: ghs_{}", random(ALNUM, 36, 6)),
            ),
            (
                "github_fine_grained_token",
                format!(
                    "github_pat_{}_{}",
                    random(ALNUM, 22, 7),
                    random(ALNUM, 59, 8)
                ),
            ),
            ("gitlab_token", format!("glpat-{}", random(ALNUM, 20, 9))),
            (
                "slack_token",
                format!("xoxb-1234567890123-{}", random(ALNUM, 24, 10)),
            ),
            (
                "slack_webhook",
                format!(
                    "https://hooks.slack.com/services/T{}/B{}/{}",
                    random(UPPER_DIGITS, 8, 11),
                    random(UPPER_DIGITS, 8, 12),
                    random(ALNUM, 24, 13)
                ),
            ),
            (
                "stripe_live_key",
                format!("sk_live_{}", random(ALNUM, 24, 14)),
            ),
            ("openai_key", format!("sk-{}", random(ALNUM, 48, 15))),
            ("openai_key", format!("sk-proj-{}", random(ALNUM, 120, 16))),
            (
                "anthropic_key",
                format!("sk-ant-api03-{}", random(ALNUM, 93, 17)),
            ),
            (
                "npm_token",
                format!("//registry/:_authToken=npm_{}", random(ALNUM, 36, 18)),
            ),
            (
                "pypi_token",
                format!("password = pypi-AgEIcHlwaS5vcmc{}", random(ALNUM, 60, 19)),
            ),
            (
                "google_api_key",
                format!("key=AIza{}", random(ALNUM, 35, 20)),
            ),
            (
                "huggingface_token",
                format!("HF_TOKEN=hf_{}", random(ALNUM, 34, 21)),
            ),
        ];
        for (rule, text) in cases {
            let found = rules_in(&text);
            assert!(found.contains(&rule), "{rule} not found; found {found:?}");
        }
    }

    #[test]
    fn a_gcp_service_account_file_is_a_private_key_finding() {
        let key = pem_body(4).replace('\n', "\\n");
        let json = format!(
            "{{\n  \"type\": \"service_account\",\n  \"project_id\": \"demo\",\n  \"private_key\": \"-----BEGIN PRIVATE KEY-----\\n{key}-----END PRIVATE KEY-----\\n\",\n  \"client_email\": \"x@demo.iam.gserviceaccount.com\"\n}}\n"
        );
        let found = find_secrets(&json);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].rule, found[0].first_line, found[0].last_line),
            ("private_key", 4, 4)
        );
    }

    #[test]
    fn a_private_key_block_spans_header_to_footer_or_to_the_end() {
        let text = format!(
            "const A: u8 = 1;\n-----BEGIN OPENSSH PRIVATE KEY-----\n{}-----END OPENSSH PRIVATE KEY-----\nconst B: u8 = 2;\n",
            pem_body(5)
        );
        let found = find_secrets(&text);
        assert_eq!(
            found,
            [SecretFinding {
                first_line: 2,
                last_line: 8,
                rule: "private_key"
            }]
        );
        let truncated = format!(
            "-----BEGIN EC PRIVATE KEY-----\n{}\n\n",
            pem_body(2).trim_end()
        );
        assert_eq!(find_secrets(&truncated)[0].last_line, 4);
    }

    #[test]
    fn an_encrypted_private_key_with_headers_is_found() {
        let text = format!(
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,5E7B0A2F9C1D4E8B0A2F9C1D4E8B0A2F\n\n{}-----END RSA PRIVATE KEY-----\n",
            pem_body(3)
        );
        assert_eq!(rules_in(&text), ["private_key"]);
    }

    #[test]
    fn benign_look_alikes_are_not_findings() {
        let benign = [
            // A PEM parser's constants, a doc line, a public key and a certificate.
            "const HEADER: &str = \"-----BEGIN PRIVATE KEY-----\";\nconst FOOTER: &str = \"-----END PRIVATE KEY-----\";\n",
            "Paste the key (it starts with -----BEGIN RSA PRIVATE KEY-----) into the field.\n",
            "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END PUBLIC KEY-----\n",
            "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ\n-----END CERTIFICATE-----\n",
            // AWS's documentation keys, and filler ids of X's and 0's.
            "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
            "AKIAXXXXXXXXXXXXXXXX and AKIA0000000000000000",
            concat!("AKIA", "4JQXZ7ORW2N5KT3BZZ is too long to be a key id"),
            // Prefixes without a key behind them.
            "ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
            "GITHUB_TOKEN=ghp_your_token_here",
            "glpat-xxxxxxxxxxxxxxxxxxxx",
            "SLACK_TOKEN=xoxb-your-bot-token",
            "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
            "pip install scikit-learn  # sk-learn",
            "class=\"sk-visually-hidden-element-with-long-name\"",
            "digest sk-0f3a9c1e2b4d6f8a0c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d",
            "npm_config_registry=https://registry.npmjs.org/",
            "pypi-simple-index",
            "let AIza = 1;",
            "hf_hub_download(repo_id=\"bert-base-uncased\", filename=\"config.json\")",
            "AccountKey=<your-account-key>",
            // Ordinary code.
            "fn main() {\n    let key = std::env::var(\"API_KEY\").unwrap();\n}\n",
        ];
        for text in benign {
            assert!(find_secrets(text).is_empty(), "false positive: {text:?}");
        }
    }

    #[test]
    fn findings_name_lines_never_text() {
        let secret = format!("ghp_{}", random(ALNUM, 36, 42));
        let text = format!("line one\nline two\ntoken = \"{secret}\"\nline four\n");
        let found = find_secrets(&text);
        assert_eq!(
            found,
            [SecretFinding {
                first_line: 3,
                last_line: 3,
                rule: "github_token"
            }]
        );
        assert!(!format!("{found:?}").contains(&secret));
    }

    #[test]
    fn withhold_removes_only_overlapping_chunks() {
        let chunk = |start, end, text: &str| Chunk {
            id: crate::change_set::ChunkId(format!("{start}-{end}")),
            start_line: start,
            end_line: end,
            text: text.to_string(),
        };
        let secret = format!("npm_{}", random(ALNUM, 36, 7));
        let text = format!("a\nb\n{secret}\nd\ne\n");
        let mut chunks = vec![
            chunk(1, 2, "a\nb\n"),
            chunk(3, 4, &format!("{secret}\nd\n")),
            chunk(5, 5, "e\n"),
        ];
        assert_eq!(withhold(&text, &mut chunks), 1);
        let kept: Vec<(u32, u32)> = chunks.iter().map(|c| (c.start_line, c.end_line)).collect();
        assert_eq!(kept, [(1, 2), (5, 5)]);
    }

    #[test]
    fn secret_file_names() {
        let secret = [
            ".env",
            "app/.env",
            ".env.local",
            ".env.production",
            ".ENV",
            ".envrc",
            "certs/server.pem",
            "tls/server.key",
            "home/.ssh/id_rsa",
            "id_rsa_old",
            "id_dsa",
            "id_ecdsa",
            "id_ed25519",
            "id_ed25519_sk",
            ".npmrc",
            ".pypirc",
            ".netrc",
            ".git-credentials",
            ".pgpass",
            ".htpasswd",
            ".aws/credentials",
            "credentials.json",
            "config/credentials.yml.enc",
            "credentials.sh",
            "android/release.jks",
            "release.keystore",
            "cert.p12",
            "CERT.PFX",
        ];
        for path in secret {
            assert!(is_secret_path(path), "{path} should be a secret file");
        }
        let ordinary = [
            ".env.example",
            ".env.sample",
            ".env.template",
            ".env.local.example",
            ".env.dist",
            ".envrc.md",
            "environment.rs",
            "id_rsa.pub",
            "home/.ssh/id_ed25519.pub",
            "src/credentials.rs",
            "lib/credentials.py",
            "docs/credentials.md",
            "keys.rs",
            "monkey.txt",
            "pemfile.rs",
            "src/main.rs",
        ];
        for path in ordinary {
            assert!(!is_secret_path(path), "{path} should be indexed");
        }
    }
}
