//! Drives a connection's state machine from its socket, its handlers' commands and the clock,
//! in one task.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::connection::{Connection, Phase, CLOSE_WAIT, COMMANDS_PER_TURN, READ_CHUNK};
use super::endpoints::COMMAND_BUFFER;
use super::{Application, Settings};

/// Serves one client connection until it closes, breaks the protocol, or `shutdown` fires; then
/// the connection is closed with `amqp:connection:forced` once the handlers have let go.
pub async fn serve<S>(
    stream: S,
    app: &mut dyn Application,
    settings: &Settings,
    shutdown: &CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel(COMMAND_BUFFER);
    let mut connection = Connection::new(app, settings, tx);
    let mut inbound = BytesMut::with_capacity(READ_CHUNK);
    let mut needs_flush = false;
    let mut reading = true;
    loop {
        if connection.phase == Phase::Done && connection.out.unwritten().is_empty() && !needs_flush
        {
            break;
        }
        if inbound.capacity() - inbound.len() < READ_CHUNK / 4 {
            inbound.reserve(READ_CHUNK);
        }
        let deadline = connection.next_deadline();
        let read_more = reading && connection.phase != Phase::Done && !connection.out.is_full();
        let take_commands = !connection.out.is_full() && connection.phase != Phase::Done;
        let unwritten = connection.out.unwritten();
        tokio::select! {
            biased;
            // Writes until the output is empty, then one flush (TLS and WebSocket streams hold
            // bytes back until flushed).
            written = write_or_flush(&mut writer, unwritten), if !unwritten.is_empty() || needs_flush => match written {
                Err(_) | Ok(Some(0)) => break,
                Ok(Some(n)) => {
                    connection.out.advance(n);
                    connection.last_sent = Instant::now();
                    needs_flush = true;
                }
                Ok(None) => needs_flush = false,
            },
            read = reader.read_buf(&mut inbound), if read_more => match read {
                Ok(0) | Err(_) => {
                    reading = false;
                    connection.peer_gone();
                }
                Ok(_) => connection.on_bytes(&mut inbound),
            },
            command = rx.recv(), if take_commands => match command {
                Some(command) => {
                    connection.on_command(command);
                    for _ in 0..COMMANDS_PER_TURN {
                        let Ok(command) = rx.try_recv() else { break };
                        connection.on_command(command);
                    }
                }
                // Only at shutdown: every handler has let go.
                None => connection.close_for_shutdown(),
            },
            () = tokio::time::sleep_until(deadline) => connection.on_timer(Instant::now()),
            () = shutdown.cancelled(), if !connection.shutting_down => {
                connection.begin_shutdown();
            }
        }
        connection.resume();
    }
    connection.end_all();
    let _ = tokio::time::timeout(CLOSE_WAIT, writer.shutdown()).await;
}

/// Writes some of `unwritten` (`Some(bytes written)`), or flushes when it is empty (`None`).
async fn write_or_flush<W: AsyncWrite + Unpin>(
    writer: &mut W,
    unwritten: &[u8],
) -> std::io::Result<Option<usize>> {
    if unwritten.is_empty() {
        writer.flush().await.map(|()| None)
    } else {
        writer.write(unwritten).await.map(Some)
    }
}
