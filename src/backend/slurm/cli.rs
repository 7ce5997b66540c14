//! The command-line transport: `sbatch --parsable`, `squeue --json`,
//! `sacct` (the final state of a job the controller has forgotten),
//! `scancel`, and the commands and scripts of the run folder (`mkdir -p`,
//! reading files back), run here or on a login node over SSH.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::SlurmError;
use super::accounting::{parse_sacct, sacct_argv};
use super::ssh::SshConfig;
use super::state::{JobInfo, parse_jobs};

/// Where the Slurm commands run.
#[derive(Clone, Debug, PartialEq)]
pub enum Runner {
    /// On this machine.
    Local,
    /// On a login node over SSH.
    Ssh(SshConfig),
}

/// Output of one command.
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Runner {
    async fn run_once(&self, argv: &[String], stdin: Option<&str>) -> Result<Output, SlurmError> {
        let full = match self {
            Runner::Local => argv.to_vec(),
            Runner::Ssh(c) => c.command(argv),
        };
        let (prog, args) = full.split_first().ok_or(SlurmError::Command {
            command: String::new(),
            message: "empty command".into(),
        })?;
        let mut cmd = Command::new(prog);
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| SlurmError::Command {
            command: argv.join(" "),
            message: format!("cannot start {prog}: {e}"),
        })?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes())
                .await
                .map_err(|e| SlurmError::Command {
                    command: argv.join(" "),
                    message: format!("cannot write stdin: {e}"),
                })?;
            drop(pipe);
        }
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .map_err(|_| SlurmError::Command {
                command: argv.join(" "),
                message: "timed out after 60s".into(),
            })?
            .map_err(|e| SlurmError::Command {
                command: argv.join(" "),
                message: e.to_string(),
            })?;
        Ok(Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Runs a command; over SSH, connection failures (exit 255) are retried
    /// three times with a growing pause (the next attempt re-establishes the
    /// master connection).
    async fn run(&self, argv: &[String], stdin: Option<&str>) -> Result<String, SlurmError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let out = self.run_once(argv, stdin).await?;
            let ssh_failed = matches!(self, Runner::Ssh(_)) && out.code == Some(255);
            if ssh_failed && attempt < 4 {
                tracing::warn!(
                    attempt,
                    stderr = %out.stderr.trim(),
                    "ssh connection failed; reconnecting"
                );
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                continue;
            }
            if out.code != Some(0) {
                return Err(SlurmError::Command {
                    command: argv.first().cloned().unwrap_or_default(),
                    message: first_error_line(&out.stderr)
                        .unwrap_or_else(|| format!("exit status {:?}", out.code)),
                });
            }
            return Ok(out.stdout);
        }
    }
}

/// The most telling line of an error output (sbatch prints two; the last
/// one names the cause).
fn first_error_line(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return None;
    }
    Some(lines.join(" / "))
}

/// `sbatch --parsable` prints `<id>` or `<id>;<cluster>`.
pub fn parse_sbatch_parsable(out: &str) -> Option<String> {
    let id = out.trim().split(';').next()?.trim();
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_string())
}

/// The token of `scontrol token` output (`SLURM_JWT=...`).
pub fn parse_token(out: &str) -> Option<String> {
    out.lines()
        .find_map(|l| l.trim().strip_prefix("SLURM_JWT="))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// The CLI transport.
#[derive(Clone, Debug)]
pub struct CliTransport {
    /// Where commands run.
    pub runner: Runner,
}

impl CliTransport {
    /// Submits a batch script (given on stdin, so nothing is written on the
    /// login node first).
    pub async fn submit(&self, script: &str) -> Result<String, SlurmError> {
        let out = self
            .runner
            .run(
                &["sbatch".to_string(), "--parsable".to_string()],
                Some(script),
            )
            .await
            .map_err(|e| match e {
                SlurmError::Command { message, .. } => SlurmError::Submit(message),
                other => other,
            })?;
        parse_sbatch_parsable(&out).ok_or_else(|| {
            SlurmError::Submit(format!("sbatch printed no job id: {:?}", out.trim()))
        })
    }

    /// The user's jobs, including recently finished ones.
    pub async fn jobs(&self) -> Result<Vec<JobInfo>, SlurmError> {
        let argv: Vec<String> = ["squeue", "--json", "--states=all", "--me"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let out = self.runner.run(&argv, None).await?;
        let doc: serde_json::Value = serde_json::from_str(&out)
            .map_err(|e| SlurmError::Parse(format!("squeue --json: {e}")))?;
        parse_jobs(&doc).map_err(|e| SlurmError::Parse(e.to_string()))
    }

    /// A job's final state from accounting (`sacct`), for a job `squeue`
    /// no longer lists; None when accounting has no record of it.
    pub async fn accounted(&self, job_id: &str) -> Result<Option<JobInfo>, SlurmError> {
        let out = self.runner.run(&sacct_argv(job_id), None).await?;
        Ok(parse_sacct(&out, job_id))
    }

    /// `scancel` the given jobs.
    pub async fn cancel(&self, ids: &[String]) -> Result<(), SlurmError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut argv = vec!["scancel".to_string()];
        argv.extend(ids.iter().cloned());
        self.runner.run(&argv, None).await.map(|_| ())
    }

    /// Sends SIGTERM to every process of the jobs, the batch script
    /// included (`scancel --signal=TERM --full`), without cancelling them:
    /// a job that traps it can still finish its work (and update itself).
    pub async fn terminate(&self, ids: &[String]) -> Result<(), SlurmError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut argv = vec![
            "scancel".to_string(),
            "--signal=TERM".to_string(),
            "--full".to_string(),
        ];
        argv.extend(ids.iter().cloned());
        self.runner.run(&argv, None).await.map(|_| ())
    }

    /// Mints a JWT for the user running the command (`scontrol token
    /// lifespan=N`). The token is never part of an error message.
    pub async fn token(&self, lifespan_s: u64) -> Result<String, SlurmError> {
        let argv = vec![
            "scontrol".to_string(),
            "token".to_string(),
            format!("lifespan={lifespan_s}"),
        ];
        let out = self.runner.run(&argv, None).await?;
        parse_token(&out)
            .ok_or_else(|| SlurmError::Parse("scontrol token printed no SLURM_JWT=".to_string()))
    }

    /// Reads a file (results read back over SSH; locally, the file itself).
    pub async fn read_file(&self, path: &str) -> Result<String, SlurmError> {
        match &self.runner {
            Runner::Local => {
                tokio::fs::read_to_string(path)
                    .await
                    .map_err(|e| SlurmError::Command {
                        command: format!("read {path}"),
                        message: e.to_string(),
                    })
            }
            Runner::Ssh(_) => {
                self.runner
                    .run(&["cat".to_string(), path.to_string()], None)
                    .await
            }
        }
    }

    /// Runs a command where the Slurm commands run (here, or on the login
    /// node over SSH, quoted); returns its stdout.
    pub async fn run_command(&self, argv: &[String]) -> Result<String, SlurmError> {
        self.runner.run(argv, None).await
    }

    /// Runs a shell script where the Slurm commands run (`sh -c`); returns
    /// its stdout.
    pub async fn run_script(&self, script: &str) -> Result<String, SlurmError> {
        self.run_command(&["sh".to_string(), "-c".to_string(), script.to_string()])
            .await
    }

    /// Closes the SSH master connection, if any.
    pub async fn close(&self) {
        if let Runner::Ssh(c) = &self.runner {
            let argv = c.exit_command();
            if let Some((prog, args)) = argv.split_first() {
                let _ = Command::new(prog)
                    .args(args)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sbatch_parsable() {
        assert_eq!(parse_sbatch_parsable("123\n").as_deref(), Some("123"));
        assert_eq!(parse_sbatch_parsable("77;cluster\n").as_deref(), Some("77"));
        assert_eq!(parse_sbatch_parsable("Submitted batch job 5"), None);
        assert_eq!(parse_sbatch_parsable(""), None);
    }

    #[test]
    fn tokens_parse() {
        assert_eq!(
            parse_token("SLURM_JWT=abc.def\n").as_deref(),
            Some("abc.def")
        );
        assert_eq!(parse_token("SLURM_JWT=\n"), None);
        assert_eq!(parse_token("nothing"), None);
    }

    #[test]
    fn error_lines_are_joined() {
        let e = "sbatch: error: invalid partition specified: nope\nsbatch: error: Batch job submission failed: Invalid partition name specified\n";
        assert_eq!(
            first_error_line(e).as_deref(),
            Some(
                "sbatch: error: invalid partition specified: nope / sbatch: error: Batch job submission failed: Invalid partition name specified"
            )
        );
    }
}
