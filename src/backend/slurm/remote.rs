//! A cluster-side run folder for clusters that do not share the driver's
//! results folder (pure).
//!
//! With `SlurmConfig::remote_dir` set, a job works in `<remote_dir>/<run>/`
//! instead of the results folder: every path of its request that lies in
//! the results folder (arguments, environment values, working directory,
//! the files it writes first, its summary, port and ready files) is moved
//! to the same place under the run folder ([`RunFolder::job`]). What the
//! job leaves there is brought back when it ends ([`RunFolder::plan`],
//! read by `super::fetch`): the outputs named in its arguments (a client's
//! result, summary and request log; a monitor's files in its output
//! folder) and its `.out`/`.err`.
//!
//! Files travel back through one shell script run through the transport
//! ([`collect_script`]): each file as a line `aifb-file <relative path>`
//! followed by one line of base64 ([`parse_collected`]).

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;

use super::render::{JobRequest, shell_join, shell_quote};

/// The marker line before each file of [`collect_script`]'s output.
const FILE_MARK: &str = "aifb-file ";

/// The driver's results folder and the job's run folder on the cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct RunFolder {
    /// The results folder on the driver's machine.
    pub local: PathBuf,
    /// `<remote_dir>/<run>` on the cluster.
    pub remote: PathBuf,
    /// Where sbatch writes `.out`/`.err` on the cluster: must exist before
    /// the job starts (created through the transport, or a folder that
    /// exists already where the transport cannot create one).
    pub log_dir: PathBuf,
}

/// What to bring back of one job once it ends, relative to the run folder.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FetchPlan {
    /// The component (a folder among `paths` contributes its `<id>.*`).
    pub component: String,
    /// Files (or folders) the job writes, relative to the run folder.
    pub paths: Vec<PathBuf>,
    /// The folder of the job's `.out`/`.err` (absolute, on the cluster).
    pub log_dir: PathBuf,
    /// Where the `.out`/`.err` go, relative to the results folder
    /// (`slurm_logs`).
    pub local_logs: PathBuf,
    /// A client's summary file, relative to the run folder (written from
    /// the job's comment where files cannot be read back).
    pub summary: Option<PathBuf>,
}

impl RunFolder {
    /// The run folder of `run` under `remote_dir`, for the results folder
    /// `local`; job logs in `<run folder>/slurm_logs`, or directly in
    /// `remote_dir` when `logs_in_remote_dir` (the transport cannot create
    /// folders before a job starts).
    pub fn new(local: &Path, remote_dir: &Path, run: &str, logs_in_remote_dir: bool) -> Self {
        let remote = remote_dir.join(run);
        let log_dir = if logs_in_remote_dir {
            remote_dir.to_path_buf()
        } else {
            remote.join("slurm_logs")
        };
        Self {
            local: local.to_path_buf(),
            remote,
            log_dir,
        }
    }

    /// `p` relative to the results folder, when it lies inside.
    fn relative<'p>(&self, p: &'p Path) -> Option<&'p Path> {
        p.strip_prefix(&self.local).ok()
    }

    /// `p` moved into the run folder when it lies in the results folder;
    /// unchanged otherwise.
    pub fn to_remote(&self, p: &Path) -> PathBuf {
        match self.relative(p) {
            Some(rel) if rel.as_os_str().is_empty() => self.remote.clone(),
            Some(rel) => self.remote.join(rel),
            None => p.to_path_buf(),
        }
    }

    /// A word (argument, environment value) that is a path in the results
    /// folder, moved; any other word unchanged.
    fn word(&self, w: &str) -> String {
        let p = Path::new(w);
        if p.is_absolute() && self.relative(p).is_some() {
            self.to_remote(p).display().to_string()
        } else {
            w.to_string()
        }
    }

    /// The job working in the run folder: its paths moved, the folders its
    /// files and outputs go to created first.
    pub fn job(&self, mut job: JobRequest) -> JobRequest {
        let mut dirs = BTreeSet::from([self.remote.clone()]);
        for (path, _) in &job.files {
            if let Some(parent) = self.to_remote(path).parent() {
                dirs.insert(parent.to_path_buf());
            }
        }
        for rel in outputs(&job, self) {
            if let Some(parent) = self.remote.join(rel).parent() {
                dirs.insert(parent.to_path_buf());
            }
        }
        job.argv = job.argv.iter().map(|w| self.word(w)).collect();
        for v in job.env.values_mut() {
            *v = self.word(v);
        }
        job.working_dir = self.to_remote(&job.working_dir);
        job.log_dir = self.log_dir.clone();
        if let Some((file, _)) = &mut job.port_file {
            *file = self.to_remote(file);
        }
        if let Some(p) = &mut job.ready_probe {
            p.ready_file = self.to_remote(&p.ready_file);
        }
        for (path, _) in &mut job.files {
            *path = self.to_remote(path);
        }
        job.summary_file = job.summary_file.as_deref().map(|s| self.to_remote(s));
        job.make_dirs.extend(dirs);
        job
    }

    /// What to bring back of `job` (the request as the driver built it,
    /// before [`RunFolder::job`]) once it ends.
    pub fn plan(&self, job: &JobRequest, local_log_dir: &Path) -> FetchPlan {
        FetchPlan {
            component: job.component.clone(),
            paths: outputs(job, self),
            log_dir: self.log_dir.clone(),
            local_logs: self
                .relative(local_log_dir)
                .filter(|r| !r.as_os_str().is_empty())
                .unwrap_or(Path::new("slurm_logs"))
                .to_path_buf(),
            summary: job
                .summary_file
                .as_deref()
                .and_then(|s| self.relative(s))
                .map(Path::to_path_buf),
        }
    }
}

/// The arguments of `job` that are paths in the results folder (other
/// than the folder itself and the files the job is given), relative to it:
/// what the job writes.
fn outputs(job: &JobRequest, folder: &RunFolder) -> Vec<PathBuf> {
    let inputs: BTreeSet<&Path> = job.files.iter().map(|(p, _)| p.as_path()).collect();
    let mut out: Vec<PathBuf> = Vec::new();
    for w in &job.argv {
        let p = Path::new(w);
        if !p.is_absolute() || inputs.contains(p) {
            continue;
        }
        if let Some(rel) = folder.relative(p)
            && !rel.as_os_str().is_empty()
            && !out.iter().any(|o| o == rel)
        {
            out.push(rel.to_path_buf());
        }
    }
    out
}

/// The shell script that prints every file of `plan` the job left (and
/// its `.out`/`.err` as job `job_id`), each as a marker line and a line of
/// base64; a file that is not there is left out. Run in the run folder
/// `remote`; always exits 0.
pub fn collect_script(remote: &Path, plan: &FetchPlan, job_id: &str) -> String {
    let words: Vec<String> = plan.paths.iter().map(|p| p.display().to_string()).collect();
    let logs: Vec<String> = ["out", "err"]
        .iter()
        .map(|ext| {
            plan.log_dir
                .join(format!("{}-{job_id}.{ext}", plan.component))
                .display()
                .to_string()
        })
        .collect();
    let logs_to = shell_quote(&plan.local_logs.display().to_string());
    let mut s = String::new();
    s.push_str(&format!(
        "aifb_emit() {{ printf '{FILE_MARK}%s\\n' \"$2\"; base64 < \"$1\" | tr -d '\\n'; printf '\\n'; }}\n"
    ));
    s.push_str(&format!(
        "for f in {}; do [ -f \"$f\" ] && aifb_emit \"$f\" {logs_to}/\"${{f##*/}}\"; done\n",
        shell_join(&logs)
    ));
    s.push_str(&format!(
        "cd {} 2>/dev/null || exit 0\n",
        shell_quote(&remote.display().to_string())
    ));
    if !words.is_empty() {
        s.push_str(&format!(
            "for p in {}; do if [ -d \"$p\" ]; then for f in \"$p\"/{}.*; do [ -f \"$f\" ] && aifb_emit \"$f\" \"$f\"; done; elif [ -f \"$p\" ]; then aifb_emit \"$p\" \"$p\"; fi; done\n",
            shell_join(&words),
            shell_quote(&plan.component)
        ));
    }
    s.push_str("exit 0\n");
    s
}

/// Why collected output could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CollectError {
    /// A file name that is not a plain relative path (absolute, `..`).
    #[error("refusing to write {0:?}: not a path inside the results folder")]
    BadPath(String),
    /// A marker without content, or content that is not base64.
    #[error("cannot read the content of {path}: {message}")]
    BadContent {
        /// The file.
        path: String,
        /// What was wrong.
        message: String,
    },
}

/// The files of [`collect_script`]'s output: (path relative to the
/// results folder, bytes).
pub fn parse_collected(out: &str) -> Result<Vec<(PathBuf, Vec<u8>)>, CollectError> {
    let mut files = Vec::new();
    let mut lines = out.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line.strip_prefix(FILE_MARK) else {
            continue;
        };
        let rel = PathBuf::from(name);
        let plain = !name.is_empty()
            && rel
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if !plain {
            return Err(CollectError::BadPath(name.to_string()));
        }
        let content = lines.next().ok_or_else(|| CollectError::BadContent {
            path: name.to_string(),
            message: "no content line".to_string(),
        })?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(content.trim())
            .map_err(|e| CollectError::BadContent {
                path: name.to_string(),
                message: e.to_string(),
            })?;
        files.push((rel, bytes));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn folder() -> RunFolder {
        RunFolder::new(
            Path::new("/home/me/results/bm-1"),
            Path::new("/scratch/u1/aifb"),
            "bm-1",
            false,
        )
    }

    fn client() -> JobRequest {
        let r = "/home/me/results/bm-1";
        JobRequest {
            name: "aifb-bm-1-c-1".into(),
            component: "c-1".into(),
            argv: vec![
                "/opt/aifbench".into(),
                "loadgen".into(),
                "--config".into(),
                format!("{r}/clients/c-1.config.json"),
                "--output".into(),
                format!("{r}/clients/c-1.json"),
                "--summary-file".into(),
                format!("{r}/clients/c-1.summary.json"),
                "--requests".into(),
                format!("{r}/clients/c-1.requests.jsonl"),
                "relative/path".into(),
            ],
            env: BTreeMap::from([
                ("AIFB_RESULTS_DIR".to_string(), r.to_string()),
                ("OTHER".to_string(), "/elsewhere".to_string()),
            ]),
            working_dir: r.into(),
            log_dir: format!("{r}/slurm_logs").into(),
            files: vec![(format!("{r}/clients/c-1.config.json").into(), "{}".into())],
            report_comment: true,
            summary_file: Some(format!("{r}/clients/c-1.summary.json").into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_job_works_in_the_run_folder() {
        let job = folder().job(client());
        let remote = "/scratch/u1/aifb/bm-1";
        assert_eq!(job.argv[0], "/opt/aifbench");
        assert_eq!(job.argv[3], format!("{remote}/clients/c-1.config.json"));
        assert_eq!(job.argv[5], format!("{remote}/clients/c-1.json"));
        assert_eq!(job.argv[10], "relative/path");
        assert_eq!(job.env["AIFB_RESULTS_DIR"], remote);
        assert_eq!(job.env["OTHER"], "/elsewhere");
        assert_eq!(job.working_dir, PathBuf::from(remote));
        assert_eq!(job.log_dir, PathBuf::from(format!("{remote}/slurm_logs")));
        assert_eq!(
            job.files[0].0,
            PathBuf::from(format!("{remote}/clients/c-1.config.json"))
        );
        assert_eq!(
            job.summary_file,
            Some(PathBuf::from(format!("{remote}/clients/c-1.summary.json")))
        );
        assert_eq!(
            job.make_dirs,
            [
                PathBuf::from(remote),
                PathBuf::from(format!("{remote}/clients"))
            ]
        );
        // Nothing of the driver's results folder is left in the script.
        let script = super::super::render::render_script(&job).expect("renders");
        assert!(!script.contains("/home/me/results"), "{script}");
    }

    #[test]
    fn a_folder_that_cannot_be_created_first_takes_the_logs_itself() {
        let f = RunFolder::new(Path::new("/r/x"), Path::new("/scratch"), "x", true);
        assert_eq!(f.log_dir, PathBuf::from("/scratch"));
        assert_eq!(f.remote, PathBuf::from("/scratch/x"));
    }

    #[test]
    fn the_plan_names_the_outputs_not_the_inputs() {
        let plan = folder().plan(&client(), Path::new("/home/me/results/bm-1/slurm_logs"));
        assert_eq!(
            plan.paths,
            [
                PathBuf::from("clients/c-1.json"),
                PathBuf::from("clients/c-1.summary.json"),
                PathBuf::from("clients/c-1.requests.jsonl"),
            ]
        );
        assert_eq!(
            plan.summary,
            Some(PathBuf::from("clients/c-1.summary.json"))
        );
        assert_eq!(plan.local_logs, PathBuf::from("slurm_logs"));
        assert_eq!(
            plan.log_dir,
            PathBuf::from("/scratch/u1/aifb/bm-1/slurm_logs")
        );
    }

    #[test]
    fn collected_files_round_trip_through_a_shell() {
        let dir = tempfile::tempdir().expect("tempdir");
        let remote = dir.path().join("run 'x'");
        std::fs::create_dir_all(remote.join("clients")).expect("dirs");
        std::fs::create_dir_all(remote.join("metrics")).expect("dirs");
        std::fs::create_dir_all(remote.join("slurm_logs")).expect("dirs");
        std::fs::write(remote.join("clients/c-1.json"), "{\"requests\": 3}\n").expect("w");
        std::fs::write(remote.join("metrics/c-1.raw.jsonl"), [0u8, 255, 10]).expect("w");
        std::fs::write(remote.join("metrics/other.raw.jsonl"), "no").expect("w");
        std::fs::write(remote.join("slurm_logs/c-1-42.err"), "log").expect("w");
        let plan = FetchPlan {
            component: "c-1".into(),
            paths: vec![
                "clients/c-1.json".into(),
                "clients/c-1.requests.jsonl".into(),
                "metrics".into(),
            ],
            log_dir: remote.join("slurm_logs"),
            local_logs: "slurm_logs".into(),
            summary: None,
        };
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(collect_script(&remote, &plan, "42"))
            .output()
            .expect("runs");
        assert!(out.status.success());
        let files = parse_collected(&String::from_utf8_lossy(&out.stdout)).expect("parses");
        assert_eq!(
            files,
            [
                (PathBuf::from("slurm_logs/c-1-42.err"), b"log".to_vec()),
                (
                    PathBuf::from("clients/c-1.json"),
                    b"{\"requests\": 3}\n".to_vec()
                ),
                (PathBuf::from("metrics/c-1.raw.jsonl"), vec![0u8, 255, 10]),
            ]
        );
        // A run folder that is not there yields nothing, successfully.
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(collect_script(&dir.path().join("gone"), &plan, "1"))
            .output()
            .expect("runs");
        assert!(out.status.success());
        assert!(out.stdout.is_empty());
    }

    #[test]
    fn collected_names_stay_inside_the_results_folder() {
        for bad in ["/etc/passwd", "../x", "clients/../../x", ""] {
            let out = format!("{FILE_MARK}{bad}\naGk=\n");
            assert_eq!(
                parse_collected(&out),
                Err(CollectError::BadPath(bad.to_string())),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_collected(&format!("{FILE_MARK}a\n!!\n")),
            Err(CollectError::BadContent { .. })
        ));
        assert_eq!(
            parse_collected("noise\naifb-file a/b\naGk=\n").expect("parses"),
            [(PathBuf::from("a/b"), b"hi".to_vec())]
        );
    }
}
