//! Snapshot and execution tests of whole batch scripts: rendered
//! scripts pinned line by line, and bodies run by a real shell (nasty
//! values, module failures, the ready watcher, the comment report).

use super::environment::container_env;
use super::*;
use crate::api::duration::Duration;

fn full_request() -> JobRequest {
    JobRequest {
        name: "aifb-demo-20261129t030000z-vllm".to_string(),
        component: "vllm".to_string(),
        slurm: SlurmSpec {
            partition: Some("gpu".into()),
            account: Some("p200001".into()),
            qos: Some("default".into()),
            reservation: Some("bench".into()),
            nodes: Some(1),
            ntasks: Some(1),
            cpus_per_task: Some(8),
            gpus: Some("4".into()),
            gres: Some("gpu:a100:4".into()),
            mem: Some("64G".into()),
            time: Some(Duration::from_secs(5400)),
            constraint: Some("a100".into()),
            exclusive: true,
            modules: vec!["Apptainer/1.2.4".into(), "CUDA".into()],
            extra_directives: vec![
                "--mail-type=END".into(),
                "#SBATCH --signal=B:TERM@60".into(),
            ],
        },
        apptainer: Some(ApptainerSpec {
            image: "docker://vllm/vllm-openai:v0.6.3".into(),
            nv: true,
            binds: vec!["/project/home:/data:ro".into()],
            env: BTreeMap::from([("HF_HOME".into(), "/data/hf cache".into())]),
            args: vec!["--cleanenv".into()],
        }),
        argv: vec![
            "python3".into(),
            "-m".into(),
            "vllm.entrypoints.openai.api_server".into(),
            "--model".into(),
            "facebook/opt-125m".into(),
            "--served-model-name".into(),
            "it's $model".into(),
        ],
        env: BTreeMap::from([
            (
                "AIFB_RESULTS_DIR".into(),
                "/scratch/r/demo-20261129T030000Z".into(),
            ),
            ("MSG".into(), "hello 'world' $(rm -rf /)".into()),
            (
                "PATH".into(),
                "/opt/aifbench/bin:/login/only/bin:/usr/bin".into(),
            ),
        ]),
        working_dir: "/scratch/r/demo-20261129T030000Z".into(),
        log_dir: "/scratch/r/demo-20261129T030000Z/slurm_logs".into(),
        port_file: Some((
            "/scratch/r/demo-20261129T030000Z/slurm_logs/vllm.port".into(),
            8000,
        )),
        ready_probe: None,
        ..Default::default()
    }
}

#[test]
fn jobs_report_through_their_comment() {
    // A fake scontrol records what the job posts.
    let dir = tempfile::tempdir().expect("tmp");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("bin");
    let log = dir.path().join("scontrol.log");
    let fake = format!(
        "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> {}\n",
        shell_quote(&log.display().to_string())
    );
    std::fs::write(bin.join("scontrol"), fake).expect("fake");
    let chmod = std::process::Command::new("chmod")
        .args(["+x"])
        .arg(bin.join("scontrol"))
        .status()
        .expect("chmod");
    assert!(chmod.success());
    let results = dir.path().join("it's results");
    let summary = results.join("clients/c-1.summary.json");
    let config = results.join("clients/c-1.config.json");
    let req = JobRequest {
        name: "aifb-x-g1-c-1".into(),
        component: "c-1".into(),
        argv: vec![
            "sh".into(),
            "-c".into(),
            "cat \"$1\" > /dev/null && printf '%s' '{\"requests\":3}' > \"$2\"; exit 3".into(),
            "sh".into(),
            config.display().to_string(),
            summary.display().to_string(),
        ],
        working_dir: results.clone(),
        log_dir: dir.path().to_path_buf(),
        make_dirs: vec![results.join("clients")],
        files: vec![(config.clone(), "{\"id\": \"it's $(x)\"}".into())],
        report_comment: true,
        summary_file: Some(summary.clone()),
        ..Default::default()
    };
    let script = body(&req).expect("body");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("SLURM_JOB_ID", "77")
        .env("PATH", path)
        .status()
        .expect("runs");
    assert_eq!(status.code(), Some(3), "the command's status: {script}");
    assert_eq!(
        std::fs::read_to_string(&config).expect("config"),
        "{\"id\": \"it's $(x)\"}"
    );
    let posted = std::fs::read_to_string(&log).expect("scontrol called");
    assert_eq!(
        posted.lines().collect::<Vec<_>>(),
        [
            "update",
            "JobId=77",
            "Comment=aifbench:{\"summary\":{\"requests\":3}}"
        ],
        "{script}"
    );
}

#[test]
fn snapshot_full_script() {
    let got = render_script(&full_request()).expect("renders");
    let want = r#"#!/bin/bash -l
# Generated by aifbench for component vllm
#SBATCH --job-name=aifb-demo-20261129t030000z-vllm
#SBATCH --partition=gpu
#SBATCH --account=p200001
#SBATCH --qos=default
#SBATCH --reservation=bench
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=8
#SBATCH --gpus=4
#SBATCH --gres=gpu:a100:4
#SBATCH --mem=64G
#SBATCH --time=01:30:00
#SBATCH --constraint=a100
#SBATCH --exclusive
#SBATCH --output=/scratch/r/demo-20261129T030000Z/slurm_logs/vllm-%j.out
#SBATCH --error=/scratch/r/demo-20261129T030000Z/slurm_logs/vllm-%j.err
#SBATCH --mail-type=END
#SBATCH --signal=B:TERM@60
set -eu
export AIFB_RESULTS_DIR=/scratch/r/demo-20261129T030000Z
export MSG='hello '\''world'\'' $(rm -rf /)'
export PATH=/opt/aifbench/bin:"$PATH"
aifb_module_failed() { echo "aifbench: 'module load $1' failed on $(hostname); check the name with 'module spider $1'" >&2; exit 1; }
type module >/dev/null 2>&1 || { echo "aifbench: no 'module' command on $(hostname) (it comes with the login shell of the compute nodes)" >&2; exit 1; }
set +u
module purge >/dev/null 2>&1 || true
module load Apptainer/1.2.4 || aifb_module_failed Apptainer/1.2.4
module load CUDA || aifb_module_failed CUDA
set -u
cd /scratch/r/demo-20261129T030000Z
export AIFB_PORT=8000 AIFB_PORT_FILE=/scratch/r/demo-20261129T030000Z/slurm_logs/vllm.port
printf '%s\n' "$AIFB_PORT" > "$AIFB_PORT_FILE"
echo "aifbench: job $SLURM_JOB_ID (vllm) on $(hostname)" >&2
exec apptainer exec --nv --bind /project/home:/data:ro --env AIFB_PORT=8000 --env AIFB_PORT_FILE=/scratch/r/demo-20261129T030000Z/slurm_logs/vllm.port --env AIFB_RESULTS_DIR=/scratch/r/demo-20261129T030000Z --env 'MSG=hello '\''world'\'' $(rm -rf /)' --env 'HF_HOME=/data/hf cache' --cleanenv docker://vllm/vllm-openai:v0.6.3 python3 -m vllm.entrypoints.openai.api_server --model facebook/opt-125m --served-model-name 'it'\''s $model'
"#;
    assert_eq!(got, want, "got:\n{got}");
}

#[test]
fn scripts_start_a_login_shell_and_set_the_environment_before_modules() {
    let got = render_script(&full_request()).expect("renders");
    assert!(got.starts_with("#!/bin/bash -l\n"), "{got}");
    let line = |needle: &str| {
        got.lines()
            .position(|l| l.starts_with(needle))
            .unwrap_or_else(|| panic!("no line {needle:?} in:\n{got}"))
    };
    let first_module = line("module purge");
    for export in ["export AIFB_RESULTS_DIR=", "export MSG=", "export PATH="] {
        assert!(
            line(export) < first_module,
            "{export} after the modules:\n{got}"
        );
    }
    assert!(
        line("set +u") < first_module && first_module < line("set -u"),
        "{got}"
    );
    assert!(line("module load CUDA || aifb_module_failed CUDA") < line("exec "));
}

#[test]
fn path_is_prepended_with_the_aifbench_folder_only() {
    let got = render_script(&full_request()).expect("renders");
    let exports: Vec<&str> = got
        .lines()
        .filter(|l| l.starts_with("export PATH"))
        .collect();
    assert_eq!(
        exports,
        ["export PATH=/opt/aifbench/bin:\"$PATH\""],
        "{got}"
    );
    assert!(!got.contains("/login/only/bin"), "{got}");
    let mut req = full_request();
    req.env.insert("PATH".into(), "/my bin:/x".into());
    let got = render_script(&req).expect("renders");
    assert!(got.contains("export PATH='/my bin':\"$PATH\"\n"), "{got}");
    for empty in ["", ":/usr/bin"] {
        req.env.insert("PATH".into(), empty.into());
        let got = render_script(&req).expect("renders");
        assert!(!got.contains("PATH="), "{empty:?}: {got}");
    }
}

#[test]
fn path_prepended_in_a_shell_keeps_the_nodes_path() {
    let mut req = full_request();
    req.apptainer = None;
    req.slurm.modules.clear();
    req.port_file = None;
    req.working_dir = "/".into();
    req.argv = vec!["sh".into(), "-c".into(), "printf '%s' \"$PATH\"".into()];
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(body(&req).expect("body"))
        .env("PATH", "/usr/bin:/bin")
        .env("SLURM_JOB_ID", "1")
        .output()
        .expect("runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "/opt/aifbench/bin:/usr/bin:/bin"
    );
}

#[test]
fn the_container_gets_the_components_environment_but_not_path() {
    let req = full_request();
    let argv = wrapped_argv_passing_env(&req.argv, req.apptainer.as_ref(), &container_env(&req));
    let envs: Vec<&str> = argv
        .windows(2)
        .filter(|w| w[0] == "--env")
        .map(|w| w[1].as_str())
        .collect();
    assert_eq!(
        envs,
        [
            "AIFB_PORT=8000",
            "AIFB_PORT_FILE=/scratch/r/demo-20261129T030000Z/slurm_logs/vllm.port",
            "AIFB_RESULTS_DIR=/scratch/r/demo-20261129T030000Z",
            "MSG=hello 'world' $(rm -rf /)",
            "HF_HOME=/data/hf cache",
        ]
    );
    // The container's own setting wins over the component's.
    let mut env = BTreeMap::from([("HF_HOME".to_string(), "/host".to_string())]);
    env.insert("PATH".into(), "/x".into());
    let argv = wrapped_argv_passing_env(&["x".into()], req.apptainer.as_ref(), &env);
    assert_eq!(
        argv.iter().filter(|a| a.starts_with("HF_HOME=")).count(),
        1,
        "{argv:?}"
    );
    assert!(!argv.iter().any(|a| a.starts_with("PATH=")), "{argv:?}");
    // Without a container nothing changes.
    assert_eq!(wrapped_argv_passing_env(&["x".into()], None, &env), ["x"]);
}

#[test]
fn module_failures_name_the_module() {
    let mut req = full_request();
    req.apptainer = None;
    req.port_file = None;
    req.working_dir = "/".into();
    req.slurm.modules = vec!["Good/1".into(), "Bad/2".into()];
    req.argv = vec!["echo".into(), "ran".into()];
    let stub = "module() { [ \"$1\" = purge ] || [ \"$2\" = Good/1 ]; }\n";
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("{stub}{}", body(&req).expect("body")))
        .env("SLURM_JOB_ID", "1")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "the command did not run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("aifbench: 'module load Bad/2' failed on "),
        "{err}"
    );
}

#[test]
fn snapshot_minimal_script() {
    let req = JobRequest {
        name: "aifb-x-r1-c-1".into(),
        component: "c-1".into(),
        argv: vec![
            "/opt/aifbench".into(),
            "loadgen".into(),
            "--config".into(),
            "/r/clients/c-1.config.json".into(),
        ],
        working_dir: "/r".into(),
        log_dir: "/r/slurm_logs".into(),
        ..Default::default()
    };
    let got = render_script(&req).expect("renders");
    let want = "#!/bin/bash
# Generated by aifbench for component c-1
#SBATCH --job-name=aifb-x-r1-c-1
#SBATCH --output=/r/slurm_logs/c-1-%j.out
#SBATCH --error=/r/slurm_logs/c-1-%j.err
set -eu
cd /r
echo \"aifbench: job $SLURM_JOB_ID (c-1) on $(hostname)\" >&2
exec /opt/aifbench loadgen --config /r/clients/c-1.config.json
";
    assert_eq!(got, want, "got:\n{got}");
}

#[test]
fn body_runs_in_a_shell_with_nasty_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut req = full_request();
    req.apptainer = None;
    req.slurm.modules.clear();
    req.working_dir = dir.path().to_path_buf();
    req.port_file = Some((dir.path().join("p o r t"), 4242));
    req.argv = vec![
        "sh".into(),
        "-c".into(),
        "printf '%s|%s' \"$MSG\" \"$1\"".into(),
        "x".into(),
        "a'b $c".into(),
    ];
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(body(&req).expect("body"))
        .env("SLURM_JOB_ID", "1")
        .output()
        .expect("runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello 'world' $(rm -rf /)|a'b $c"
    );
    let port = std::fs::read_to_string(dir.path().join("p o r t")).expect("port file");
    assert_eq!(port.trim(), "4242");
}

#[test]
fn unsafe_directive_values_are_refused() {
    for bad in ["gpu\n#SBATCH --x", "a b", "a'b", "$(x)", "", "a#b"] {
        let mut req = full_request();
        req.slurm.partition = Some(bad.into());
        assert!(
            matches!(
                render_script(&req),
                Err(RenderError::UnsafeDirective {
                    field: "partition",
                    ..
                })
            ),
            "{bad:?}"
        );
    }
    let mut req = full_request();
    req.slurm.extra_directives = vec!["--x\n rm -rf /".into()];
    assert!(render_script(&req).is_err());
    let mut req = full_request();
    req.slurm.extra_directives = vec!["echo hi".into()];
    assert!(render_script(&req).is_err());
    let mut req = full_request();
    req.env.insert("BAD NAME".into(), "x".into());
    assert_eq!(
        render_script(&req),
        Err(RenderError::BadEnvName("BAD NAME".into()))
    );
}

#[test]
fn ready_watcher_creates_the_ready_file_once_the_service_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // A one-shot HTTP server answering 200 to the watcher's probe.
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut conn, _)) = listener.accept() {
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    let ready = dir.path().join("svc ready");
    let req = JobRequest {
        name: "aifb-r-svc".into(),
        component: "svc".into(),
        argv: vec!["sh".into(), "-c".into(), "sleep 3".into()],
        working_dir: dir.path().to_path_buf(),
        log_dir: dir.path().to_path_buf(),
        port_file: Some((dir.path().join("svc.port"), port)),
        ready_probe: Some(ReadyProbe {
            path: "/health".into(),
            ready_file: ready.clone(),
            interval_s: 1,
        }),
        ..Default::default()
    };
    let script = body(&req).expect("body");
    assert!(script.contains("curl -fsS"), "{script}");
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("SLURM_JOB_ID", "1")
        .status()
        .expect("runs");
    assert!(status.success());
    server.join().expect("server");
    assert!(ready.is_file(), "ready file created");
}

#[test]
fn apptainer_wrapping() {
    let a = ApptainerSpec {
        image: "/images/sim.sif".into(),
        nv: false,
        binds: vec!["/a".into(), "/b:/c".into()],
        env: BTreeMap::new(),
        args: vec![],
    };
    let got = wrapped_argv(&["aifbench".into(), "sim".into()], Some(&a));
    assert_eq!(
        got,
        [
            "apptainer",
            "exec",
            "--bind",
            "/a",
            "--bind",
            "/b:/c",
            "/images/sim.sif",
            "aifbench",
            "sim"
        ]
    );
    assert_eq!(wrapped_argv(&["x".into()], None), ["x"]);
}
