//! The git command runner: no shell, a timeout, the child killed when its future is dropped,
//! and git's complaints redacted and sorted into [`SourceError`] kinds.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::observer::GitObserver;
use crate::redact::redact_text;
use crate::source::SourceError;

/// Runs git with a timeout; on failure the message is the last line git wrote to stderr, with
/// credentials redacted (`url`'s own userinfo and any other URL's).
pub(crate) async fn run_git(
    command: Command,
    timeout: Duration,
    url: &str,
    observer: &dyn GitObserver,
) -> Result<Vec<u8>, SourceError> {
    run_git_with_input(command, None, timeout, url, observer).await
}

/// [`run_git`] with `input` written to git's stdin (for the `--batch` commands).
pub(crate) async fn run_git_with_input(
    command: Command,
    input: Option<Vec<u8>>,
    timeout: Duration,
    url: &str,
    observer: &dyn GitObserver,
) -> Result<Vec<u8>, SourceError> {
    let verb = describe(&command);
    let started = std::time::Instant::now();
    let result = run_git_unobserved(command, verb.clone(), input, timeout, url).await;
    observer.git_finished(&verb, started.elapsed(), result.as_ref().err());
    result
}

async fn run_git_unobserved(
    mut command: Command,
    verb: String,
    input: Option<Vec<u8>>,
    timeout: Duration,
    url: &str,
) -> Result<Vec<u8>, SourceError> {
    use tokio::io::AsyncWriteExt;
    command
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        // git's messages in English whatever the host's locale: [`classify`] reads them.
        .env("LC_ALL", "C")
        .env_remove("LANGUAGE")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A cancelled job or a shutdown drops the future: git must not outlive it.
        .kill_on_drop(true);
    let started = std::time::Instant::now();
    let mut child = command
        .spawn()
        .map_err(|source| SourceError::GitMissing { source })?;
    let mut stdin = child.stdin.take();
    let run = async move {
        if let (Some(pipe), Some(input)) = (stdin.as_mut(), input) {
            // A git that exits early closes its end; its status then tells what happened.
            let _ = pipe.write_all(&input).await;
        }
        drop(stdin);
        child.wait_with_output().await
    };
    let output = tokio::time::timeout(timeout, run).await;
    tracing::debug!(git = %verb, elapsed_us = started.elapsed().as_micros() as u64, "git ran");
    let output = match output {
        Ok(Ok(output)) => output,
        Ok(Err(source)) => return Err(SourceError::GitInterrupted { verb, source }),
        Err(_) => {
            return Err(SourceError::Timeout {
                verb,
                after: timeout,
            });
        }
    };
    if output.status.success() {
        return Ok(output.stdout);
    }
    let stderr = redact_text(&String::from_utf8_lossy(&output.stderr), url);
    Err(classify(verb, output.status.code(), &stderr))
}

/// The kind of a git failure, from what git wrote to stderr.
fn classify(verb: String, status: Option<i32>, stderr: &str) -> SourceError {
    // git's first `fatal:` or `error:` line says what went wrong; what follows it is advice
    // ("Please make sure you have the correct access rights and the repository exists.").
    let lines = || stderr.lines().map(str::trim).filter(|l| !l.is_empty());
    let detail = lines()
        .find(|l| l.starts_with("fatal:") || l.starts_with("error:"))
        .or_else(|| lines().next_back())
        .unwrap_or("");
    let detail = if detail.is_empty() {
        "no output".to_string()
    } else {
        detail.to_string()
    };
    let lower = stderr.to_ascii_lowercase();
    let mentions = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    if mentions(&["index.lock", "unable to create"]) {
        SourceError::LockHeld { verb, detail }
    } else if mentions(&["couldn't find remote ref", "could not find remote ref"]) {
        SourceError::NoSuchRef { verb, detail }
    } else if mentions(&[
        "could not resolve host",
        "connection refused",
        "connection timed out",
        "connection reset",
        "unable to access",
        "temporary failure",
        "early eof",
        "the remote end hung up",
    ]) {
        SourceError::RemoteUnavailable { verb, detail }
    } else {
        SourceError::Git {
            verb,
            status,
            detail,
        }
    }
}

/// The git verb (`fetch`, `read-tree`, ...) for messages; paths and URLs stay out of them.
fn describe(command: &Command) -> String {
    let mut args = command
        .as_std()
        .get_args()
        .map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // Global options that take a value: skip the value too.
            "--git-dir" | "--work-tree" | "-C" | "-c" => {
                args.next();
            }
            a if a.starts_with('-') => {}
            verb => return verb.to_string(),
        }
    }
    "command".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observer::NoGitObserver;

    #[test]
    fn failures_are_sorted_into_kinds() {
        // The message is checked where it says more than git did.
        for (verb, stderr, kind, transient, message) in [
            (
                "fetch",
                "fatal: unable to access 'https://***@h/x/': Could not resolve host: h\n",
                "remote_unavailable",
                true,
                None,
            ),
            (
                "read-tree",
                "fatal: Unable to create '/d/x.index.lock': File exists.\n",
                "lock_held",
                true,
                None,
            ),
            (
                "fetch",
                "fatal: couldn't find remote ref refs/heads/x\n\n",
                "no_such_ref",
                false,
                Some("git fetch failed: fatal: couldn't find remote ref refs/heads/x"),
            ),
            (
                "fetch",
                "fatal: '/nonexistent' does not appear to be a git repository\n\
                 fatal: Could not read from remote repository.\n\n\
                 Please make sure you have the correct access rights\n\
                 and the repository exists.\n",
                "git",
                false,
                Some(
                    "git fetch failed: fatal: '/nonexistent' does not appear to be a git repository",
                ),
            ),
        ] {
            let error = classify(verb.into(), Some(128), stderr);
            assert_eq!(error.kind(), kind, "{error:?}");
            assert_eq!(error.is_transient(), transient, "{error:?}");
            if let Some(message) = message {
                assert_eq!(error.to_string(), message);
            }
        }
        let silent = classify("fetch".into(), Some(1), "");
        assert_eq!(silent.to_string(), "git fetch failed: no output");
    }

    #[tokio::test]
    async fn a_hanging_git_times_out_as_a_transient_error() {
        // A shell alias that sleeps stands in for a fetch from a silent remote.
        let mut sleeper = Command::new("git");
        sleeper.args(["-c", "alias.nap=!sleep 5", "nap"]);
        let error = run_git(sleeper, Duration::from_millis(200), "", &NoGitObserver)
            .await
            .expect_err("times out");
        assert!(matches!(error, SourceError::Timeout { .. }), "{error:?}");
        assert!(error.is_transient());
        assert_eq!(error.to_string(), "git nap timed out after 0s");
    }

    /// git's messages are read in English whatever the operator's locale: every child runs
    /// with `LC_ALL=C` and without `LANGUAGE` (which gettext honours before `LC_ALL`).
    ///
    /// Where a German locale and git's German messages are installed, the fetch below would
    /// fail with a German message without the fix and be misread as an unknown failure.
    /// Where the locale is not installed (most CI images: git then falls back to English),
    /// the environment check is what fails without the fix: the child would see the German
    /// settings.
    #[tokio::test]
    async fn git_runs_in_the_c_locale_whatever_the_callers() {
        let german = |command: &mut Command| {
            command
                .env("LANG", "de_DE.UTF-8")
                .env("LC_ALL", "de_DE.UTF-8")
                .env("LC_MESSAGES", "de_DE.UTF-8")
                .env("LANGUAGE", "de");
        };
        let mut show_env = Command::new("git");
        show_env.args(["-c", "alias.show-env=!env", "show-env"]);
        german(&mut show_env);
        let env = run_git(show_env, Duration::from_secs(30), "", &NoGitObserver)
            .await
            .expect("env runs");
        let env = String::from_utf8_lossy(&env);
        assert!(env.lines().any(|l| l == "LC_ALL=C"), "{env}");
        assert!(!env.lines().any(|l| l.starts_with("LANGUAGE=")), "{env}");

        let temp = tempfile::tempdir().expect("temp dir");
        let origin = temp.path().join("origin");
        let status = std::process::Command::new("git")
            .args(["init", "-q", "--bare"])
            .arg(&origin)
            .status()
            .expect("git init");
        assert!(status.success());
        let mut fetch = Command::new("git");
        fetch
            .arg("--git-dir")
            .arg(&origin)
            .args(["fetch", "--quiet", "--"])
            .arg(&origin)
            .arg("+refs/heads/gone:refs/heads/gone");
        german(&mut fetch);
        let error = run_git(fetch, Duration::from_secs(30), "", &NoGitObserver)
            .await
            .expect_err("the ref does not exist");
        assert!(matches!(error, SourceError::NoSuchRef { .. }), "{error:?}");
    }

    #[tokio::test]
    async fn git_failures_carry_no_credentials() {
        let url = "https://bob:s3cret@127.0.0.1:1/x.git";
        let mut command = Command::new("git");
        command.args(["ls-remote", "--", url]);
        let error = run_git(command, Duration::from_secs(30), url, &NoGitObserver)
            .await
            .expect_err("nothing listens on port 1");
        let message = error.to_string();
        assert!(
            !message.contains("s3cret") && !message.contains("bob"),
            "{message}"
        );
        assert!(error.is_transient(), "{error:?}");
    }
}
