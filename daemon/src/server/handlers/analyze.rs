//! `analyze {path}`: analyse an audio file on disk with the daemon's model.
//!
//! The path must be absolute (the daemon's working directory is not the
//! client's) and name a regular file: devices, FIFOs and directories are
//! refused before anything is opened, so a request can never hang the daemon
//! on a pipe. Analyses run one at a time on a worker thread with a full-size
//! stack.
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use ser_ctl::protocol::{ErrorCode, ErrorReply, Message};

use super::error;
use crate::core::Core;

pub fn handle(core: &Core, path: &Path) -> Result<Message, ErrorReply> {
    if !path.is_absolute() {
        return Err(error(
            ErrorCode::InvalidArgument,
            format!("path must be absolute (got {})", path.display()),
        ));
    }
    let failed = |m: String| error(ErrorCode::AnalysisFailed, m);
    let meta = std::fs::metadata(path)
        .map_err(|e| failed(format!("cannot open {}: {e}", path.display())))?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let what = if ft.is_dir() {
            "a directory"
        } else if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_char_device() || ft.is_block_device() {
            "a device"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(failed(format!(
            "{} is {what}; only regular audio files can be analysed",
            path.display()
        )));
    }
    let _slot = core.analysis_slot();
    let engine = core.engine.clone();
    let segmenter = core.config().vad;
    let p = path.to_path_buf();
    let worker = std::thread::Builder::new()
        .name("analyze".into())
        .spawn(move || engine.analyze_file(&p, &segmenter))
        .map_err(|e| {
            error(
                ErrorCode::Internal,
                format!("cannot start the analysis: {e}"),
            )
        })?;
    match worker.join() {
        Ok(Ok(report)) => Ok(Message::Analysis(report)),
        Ok(Err(e)) => Err(failed(e)),
        Err(_) => Err(error(ErrorCode::Internal, "the analysis crashed")),
    }
}
