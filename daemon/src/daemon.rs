//! Start-up, the thread layout and the orderly shutdown.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use ser_ctl::protocol::DaemonState;

use crate::cli::Cli;
use crate::config::Config;
use crate::core::{AudioCommand, Core, CoreChannels, StopReason};
use crate::engine::Engine;
use crate::exit_code;
use crate::lock::{InstanceLock, LockError};
use crate::server::subscribers::Subscribers;
use crate::server::{self, Server, ServerOptions};
use crate::ui::{UiAction, UiOptions, UiUpdate};

/// Runs `serd` with parsed arguments; returns the process exit code.
pub fn main(cli: Cli) -> i32 {
    init_logging(cli.verbose);
    let config_path = cli
        .config
        .clone()
        .or_else(crate::config::default_path)
        .unwrap_or_else(|| PathBuf::from("config.toml"));
    let mut config = match Config::load(&config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("serd: invalid configuration: {e}");
            return exit_code::INVALID_CONFIG;
        }
    };
    if let Some(d) = &cli.device {
        config.audio.device = d.clone();
    }
    if let Some(m) = &cli.model {
        config.model.path = m.display().to_string();
    }
    if cli.print_config {
        print!("{}", config.to_toml());
        return exit_code::OK;
    }
    match run(cli, config, config_path) {
        Ok(()) => exit_code::OK,
        Err(e) => {
            if let Some(LockError::Held { .. }) = e.downcast_ref::<LockError>() {
                eprintln!("serd: {e}");
                return exit_code::ALREADY_RUNNING;
            }
            eprintln!("serd: {e:#}");
            exit_code::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    // -v/-vv raise serd's and ser_models' own logs; dependencies (tract dumps
    // whole model graphs at trace) stay at info unless RUST_LOG says otherwise.
    let default = match verbose {
        0 => "info",
        1 => "info,serd=debug,ser_models=debug",
        _ => "info,serd=trace,ser_models=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn display_available() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
}

fn run(cli: Cli, config: Config, config_path: PathBuf) -> anyhow::Result<()> {
    // Before anything a client can see (the socket): a SIGTERM/SIGINT/SIGHUP
    // sent as soon as the socket exists must reach our handlers, not the
    // default action (which kills, skipping the orderly stop). Signals that
    // arrive before the thread below starts wait in signal-hook's queue.
    let signals = install_signal_handlers()?;
    let socket = ser_ctl::paths::socket_path();
    let dir = socket
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_else(ser_ctl::paths::runtime_dir);
    server::prepare_runtime_dir(&dir)?;
    let lock = InstanceLock::acquire(&dir.join(ser_ctl::paths::LOCK_NAME))?;

    let engine = Arc::new(match config.model_path() {
        Some(p) => Engine::from_path(&p)?,
        None => Engine::embedded()?,
    });
    tracing::info!(
        model = engine.version(),
        kernels = engine.kernels(),
        "model loaded"
    );
    let input = match &cli.input {
        Some(p) => Some((
            p.clone(),
            Engine::open_input(p)
                .with_context(|| format!("cannot use --input file:{}", p.display()))?,
        )),
        None => None,
    };
    let history_dir = crate::history::History::default_dir()
        .context("cannot find the data directory (is HOME set?)")?;

    let listener = server::bind(&socket)?;
    let (audio_tx, audio_rx) = crossbeam_channel::unbounded();
    let (stop_tx, stop_rx) = crossbeam_channel::unbounded();
    let core = Arc::new(Core::new(
        config.clone(),
        config_path,
        history_dir,
        engine,
        Subscribers::default(),
        CoreChannels {
            audio: audio_tx.clone(),
            stop: stop_tx.clone(),
        },
    ));
    let server = Server::start(
        listener,
        socket.clone(),
        core.clone(),
        ServerOptions::default(),
    )?;

    // Threads: classifier <- pipeline <- audio supervisor.
    let (jobs_tx, jobs_rx) = crossbeam_channel::bounded(crate::pipeline::JOB_QUEUE);
    let (pipe_tx, pipe_rx) = crossbeam_channel::unbounded();
    let classifier = spawn("classifier", {
        let core = core.clone();
        move || crate::pipeline::classify(core, jobs_rx)
    })?;
    let pipeline = spawn("pipeline", {
        let core = core.clone();
        move || crate::pipeline::run(core, pipe_rx, jobs_tx)
    })?;
    let audio = match input {
        Some((path, reader)) => {
            let (core, pace, exit_after) = (core.clone(), cli.pace, cli.exit_after_input);
            spawn("file-input", move || {
                crate::audio::file::run(core, path, reader, pace, exit_after, audio_rx, pipe_tx)
            })?
        }
        None => {
            let (core, device) = (core.clone(), config.audio.device.clone());
            spawn("capture", move || {
                crate::audio::capture::run(core, device, audio_rx, pipe_tx)
            })?
        }
    };
    spawn_signals(signals, core.clone(), stop_tx.clone())?;
    spawn("mood-tick", {
        let core = core.clone();
        move || {
            while !core.is_stopping() {
                std::thread::sleep(Duration::from_secs(1));
                core.tick();
            }
        }
    })?;

    // The UI (tray + notifications) on the main thread, when wanted and possible.
    let want_tray = config.tray.enabled && !cli.no_tray;
    let want_notify = config.notifications.enabled && !cli.no_notify;
    if cli.no_notify {
        core.set_notifications(false);
    }
    let mut ui_ran = false;
    if want_tray || want_notify {
        if !display_available() {
            tracing::info!("no display (DISPLAY/WAYLAND_DISPLAY unset): running without tray and notifications");
            core.set_notifications(false);
        } else if ui_available() {
            let (up_tx, up_rx) = crossbeam_channel::bounded(256);
            let (act_tx, act_rx) = crossbeam_channel::unbounded();
            core.set_ui(up_tx.clone());
            spawn("ui-actions", {
                let core = core.clone();
                move || ui_actions(core, act_rx)
            })?;
            // Leaves the UI loop when the daemon stops.
            spawn("stop-wait", {
                let (core, stop_rx) = (core.clone(), stop_rx.clone());
                move || {
                    let reason = wait_stop(&stop_rx);
                    shutdown(&core, reason);
                    let _ = up_tx.send(UiUpdate::Shutdown);
                }
            })?;
            let mut notify = config.notifications.clone();
            notify.enabled = want_notify;
            let mut tray = config.tray.clone();
            tray.enabled = want_tray;
            run_ui(
                UiOptions {
                    tray,
                    notify,
                    history_path: core.history_path().to_path_buf(),
                },
                up_rx,
                act_tx,
            );
            ui_ran = true;
        } else {
            core.set_notifications(false);
        }
    }
    if ui_ran {
        // The UI may also return on its own (no tray host, GTK failed): the
        // daemon then goes on headless until the stop-wait thread starts the stop.
        while !core.is_stopping() {
            std::thread::sleep(Duration::from_millis(100));
        }
    } else {
        let reason = wait_stop(&stop_rx);
        shutdown(&core, reason);
    }
    let _ = audio.join();
    let _ = pipeline.join();
    let _ = classifier.join();
    core.set_state(DaemonState::Stopping, None, None);
    server.stop();
    drop(lock);
    tracing::info!("stopped");
    Ok(())
}

fn wait_stop(rx: &Receiver<StopReason>) -> StopReason {
    rx.recv().unwrap_or(StopReason::Request)
}

/// Starts the orderly stop: the audio side finishes the utterance in hand,
/// the pipeline flushes, the classifier drains (joined by the caller).
fn shutdown(core: &Core, reason: StopReason) {
    if core.is_stopping() {
        return;
    }
    tracing::info!(?reason, "stopping after the utterance in hand");
    core.begin_stopping();
    let _ = core.audio_sender().send(AudioCommand::Shutdown);
}

fn spawn<F: FnOnce() + Send + 'static>(
    name: &str,
    f: F,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .with_context(|| format!("cannot start the {name} thread"))
}

fn install_signal_handlers() -> anyhow::Result<signal_hook::iterator::Signals> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])
        .context("cannot install signal handlers")
}

fn spawn_signals(
    mut signals: signal_hook::iterator::Signals,
    core: Arc<Core>,
    stop: crossbeam_channel::Sender<StopReason>,
) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT};
    spawn("signals", move || {
        for sig in signals.forever() {
            match sig {
                SIGHUP => {
                    tracing::info!("SIGHUP: reloading the configuration");
                    if let Err(e) = core.reload() {
                        tracing::error!("reload refused, keeping the old configuration: {e}");
                    }
                }
                SIGINT => {
                    let _ = stop.send(StopReason::Signal("SIGINT"));
                }
                _ => {
                    let _ = stop.send(StopReason::Signal("SIGTERM"));
                }
            }
        }
    })?;
    Ok(())
}

fn ui_actions(core: Arc<Core>, rx: Receiver<UiAction>) {
    loop {
        let action = match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(a) => a,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        match action {
            UiAction::Pause => {
                core.audio_request(AudioCommand::Pause);
            }
            UiAction::Resume => {
                core.audio_request(AudioCommand::Resume);
            }
            UiAction::SetNotifications(on) => core.set_notifications(on),
            UiAction::Quit => core.request_stop(StopReason::Ui),
            UiAction::TrayActive(on) => core.set_tray(on),
        }
    }
}

/// Whether this build has a UI to run (the tray/notification module).
fn ui_available() -> bool {
    true
}

/// Runs the tray/notification loop on this (the main) thread until `UiUpdate::Shutdown`.
fn run_ui(
    opts: UiOptions,
    updates: crossbeam_channel::Receiver<UiUpdate>,
    actions: crossbeam_channel::Sender<UiAction>,
) {
    crate::ui::run(opts, updates, actions)
}
