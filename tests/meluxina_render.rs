//! The batch script of recipes/meluxina-vllm.yaml's service, rendered
//! through the public `SlurmBackend::job_request` and `render_script`, then
//! EXECUTED with bash as a login shell would run it on a MeluXina compute
//! node: a stand-in `module` function (defined by the login profile of a
//! temporary HOME) whose `module load Apptainer/...` prepends a folder with a
//! fake `apptainer` that records its argv and PATH. Hermetic: a tempdir, no
//! Slurm, no network.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aifbench::api::load::{load_file, map_env};
use aifbench::api::spec::ServiceSpec;
use aifbench::backend::LaunchRequest;
use aifbench::backend::slurm::render::{render_script, shell_quote};
use aifbench::backend::slurm::{SlurmBackend, SlurmConfig};

const ACCOUNT: &str = "p200123";
const SIF: &str = "/project/home/p200123/images/vllm-openai.sif";

fn recipe_service() -> ServiceSpec {
    let env: BTreeMap<String, String> = [
        ("MELUXINA_ACCOUNT", ACCOUNT),
        ("VLLM_SIF", SIF),
        ("HOME", "/home/u100123"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/meluxina-vllm.yaml");
    let loaded = load_file(&path, &map_env(&env)).expect("the recipe loads");
    loaded
        .benchmark
        .spec
        .services
        .into_iter()
        .find(|s| s.id == "vllm")
        .expect("a vllm service")
}

fn write_executable(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A temporary site: the aifbench binary's folder (with a fake `scontrol`
/// the job reports through), the Apptainer module's folder (a fake
/// `apptainer`), and a HOME whose login profile defines `module`.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Self {
        let site = Self {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        for d in ["aifbench-bin", "apptainer-module/bin", "home", "results"] {
            std::fs::create_dir_all(site.path(d)).expect("mkdir");
        }
        let q = |p: PathBuf| shell_quote(&p.display().to_string());
        write_executable(
            &site.path("aifbench-bin/scontrol"),
            &format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >> {}\n",
                q(site.path("scontrol.log"))
            ),
        );
        write_executable(
            &site.path("apptainer-module/bin/apptainer"),
            &format!(
                "#!/bin/sh\nprintf '%s\\n' \"$PATH\" > {}\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > {}\n",
                q(site.path("apptainer.path")),
                q(site.path("apptainer.argv"))
            ),
        );
        // Lmod-like: `module load` of an unknown name fails.
        let profile = format!(
            "module() {{\n  case \"$1\" in\n    purge) return 0 ;;\n    load) case \"$2\" in\n      env/release/*) return 0 ;;\n      Apptainer/*) PATH={}:\"$PATH\"; export PATH; return 0 ;;\n      *) echo \"Lmod has detected the following error: unknown module $2\" >&2; return 1 ;;\n    esac ;;\n  esac\n}}\n",
            q(site.path("apptainer-module/bin"))
        );
        std::fs::write(site.path("home/.bash_profile"), profile).expect("profile");
        site
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The service's launch request as `aifbench run` builds it: `{{port}}`
    /// filled in, PATH = the aifbench binary's folder first, then the
    /// driver's PATH (which must not reach the job).
    fn request(&self, s: &ServiceSpec) -> LaunchRequest {
        let port = 18123;
        let argv = s
            .command
            .iter()
            .map(|a| a.replace("{{port}}", &port.to_string()))
            .collect();
        let mut env = s.env.clone();
        env.insert(
            "PATH".into(),
            format!(
                "{}:/login-node/only/bin:/usr/bin:/bin",
                self.path("aifbench-bin").display()
            ),
        );
        env.insert(
            "AIFB_RESULTS_DIR".into(),
            self.path("results").display().to_string(),
        );
        LaunchRequest {
            id: s.id.clone(),
            argv,
            env,
            working_dir: self.path("results"),
            slurm: s.slurm.clone(),
            apptainer: s.apptainer.clone(),
            port: Some(port),
            stop_grace: Duration::from_secs(30),
            ..Default::default()
        }
    }

    fn script(&self, req: &LaunchRequest) -> String {
        let backend = SlurmBackend::new(
            SlurmConfig::default(),
            "meluxina-vllm-20261203t160000z",
            self.path("results/slurm_logs"),
        )
        .expect("backend");
        render_script(&backend.job_request(req)).expect("renders")
    }

    /// Runs the script as sbatch would: executed through its shebang, with
    /// a minimal environment.
    fn run(&self, script: &str) -> std::process::Output {
        std::fs::create_dir_all(self.path("results/slurm_logs")).expect("logs");
        let file = self.path("job.sh");
        write_executable(&file, script);
        std::process::Command::new(&file)
            .env_clear()
            .env("HOME", self.path("home"))
            .env("PATH", "/usr/bin:/bin")
            .env("SLURM_JOB_ID", "4242")
            .output()
            .expect("the script runs")
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }
}

fn text(out: &std::process::Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_rendered_vllm_job_runs_apptainer_with_gpus_binds_and_env() {
    let site = Site::new();
    let script = site.script(&site.request(&recipe_service()));
    assert!(script.starts_with("#!/bin/bash -l\n"), "{script}");
    assert!(!script.contains("/login-node/only/bin"), "{script}");
    let out = site.run(&script);
    assert!(out.status.success(), "{}\nscript:\n{script}", text(&out));

    let argv = site.read("apptainer.argv");
    let argv: Vec<&str> = argv.lines().collect();
    let pair = |flag: &str, value: &str| argv.windows(2).any(|w| w == [flag, value]);
    assert_eq!(argv.first(), Some(&"exec"), "{argv:?}");
    assert!(argv.contains(&"--nv"), "{argv:?}");
    assert!(
        pair("--bind", &format!("/project/home/{ACCOUNT}")),
        "{argv:?}"
    );
    assert!(
        pair(
            "--env",
            &format!("HF_HOME=/project/home/{ACCOUNT}/hf-cache")
        ),
        "{argv:?}"
    );
    assert!(pair("--env", "VLLM_NO_USAGE_STATS=1"), "{argv:?}");
    assert!(pair("--env", "AIFB_PORT=18123"), "{argv:?}");
    assert!(
        !argv.iter().any(|a| a.starts_with("PATH=")),
        "PATH stays outside: {argv:?}"
    );
    let image = argv.iter().position(|a| *a == SIF).expect("the image");
    assert_eq!(
        argv[image + 1..image + 4],
        ["python3", "-m", "vllm.entrypoints.openai.api_server"],
        "{argv:?}"
    );
    assert!(pair("--port", "18123"), "{argv:?}");

    // The module's folder first, then aifbench's, then the node's own
    // PATH; nothing of the driver's.
    let path = site.read("apptainer.path");
    let dirs: Vec<&str> = path.trim().split(':').collect();
    let module_bin = site.path("apptainer-module/bin").display().to_string();
    let aifbench_bin = site.path("aifbench-bin").display().to_string();
    let at = |d: &str| dirs.iter().position(|x| *x == d);
    assert!(at(&module_bin) < at(&aifbench_bin), "{dirs:?}");
    assert!(at(&aifbench_bin).is_some(), "{dirs:?}");
    assert!(at("/login-node/only/bin").is_none(), "{dirs:?}");

    // The port was written and reported before the command started.
    assert_eq!(site.read("results/slurm_logs/vllm.port").trim(), "18123");
    assert!(
        site.read("scontrol.log")
            .contains("Comment=aifbench:{\"port\":18123}"),
        "{}",
        site.read("scontrol.log")
    );
}

#[test]
fn a_module_that_does_not_load_stops_the_job_with_its_name() {
    let site = Site::new();
    let mut service = recipe_service();
    if let Some(slurm) = service.slurm.as_mut() {
        slurm.modules.push("CUDA/99.9".into());
    }
    let script = site.script(&site.request(&service));
    let out = site.run(&script);
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("aifbench: 'module load CUDA/99.9' failed"),
        "{}",
        text(&out)
    );
    assert!(
        !site.path("apptainer.argv").exists(),
        "nothing ran after the failed module"
    );
}

#[test]
fn without_a_module_command_the_job_says_so() {
    let site = Site::new();
    std::fs::remove_file(site.path("home/.bash_profile")).expect("rm profile");
    let script = site.script(&site.request(&recipe_service()));
    let out = site.run(&script);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("aifbench: no 'module' command"),
        "{}",
        text(&out)
    );
}
