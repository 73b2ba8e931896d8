//! A minimal RFC 2217 (telnet COM-PORT-OPTION) client: enough to reach a serial port served
//! by ser2net's telnet mode, or any other RFC 2217 server. It offers COM-PORT-OPTION (and
//! BINARY, for an 8-bit clean link), sets the baud rate and 8N1, escapes 0xFF bytes of data
//! both ways, and refuses every other option the server asks about.
use std::collections::BTreeSet;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

pub const IAC: u8 = 255;
pub const DONT: u8 = 254;
pub const DO: u8 = 253;
pub const WONT: u8 = 252;
pub const WILL: u8 = 251;
pub const SB: u8 = 250;
pub const SE: u8 = 240;
pub const BINARY: u8 = 0;
pub const SUPPRESS_GO_AHEAD: u8 = 3;
pub const COM_PORT_OPTION: u8 = 44;

/// COM-PORT-OPTION commands, client to server; the server answers with the same + 100.
pub const SET_BAUDRATE: u8 = 1;
pub const SET_DATASIZE: u8 = 2;
pub const SET_PARITY: u8 = 3;
pub const SET_STOPSIZE: u8 = 4;
pub const SERVER_REPLY_OFFSET: u8 = 100;
const PARITY_NONE: u8 = 1;
const STOPSIZE_ONE: u8 = 1;

/// A server's subnegotiations are a few bytes; a longer one means the peer is not speaking
/// telnet (and an unbounded buffer would let it grow without end).
pub const MAX_SUBNEGOTIATION: usize = 64;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TelnetError {
    #[error("telnet: IAC followed by {0:#04x}, which is no telnet command (not an RFC 2217 server?)")]
    NotACommand(u8),
    #[error("telnet: a subnegotiation longer than {MAX_SUBNEGOTIATION} bytes (not an RFC 2217 server?)")]
    SubnegotiationTooLong,
    #[error("telnet: IAC {0:#04x} inside a subnegotiation (only IAC IAC and IAC SE may appear there)")]
    BadSubnegotiation(u8),
}

/// What the server told us, besides data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TelnetEvent {
    /// `DO COM-PORT-OPTION`: the server will take our port settings.
    ComPortAccepted,
    /// `DONT COM-PORT-OPTION`: it will not (a plain telnet server).
    ComPortRefused,
    /// The server's answer to SET-BAUDRATE: the rate it set.
    BaudRate(u32),
    /// Any other COM-PORT-OPTION answer (command without the +100, then its value).
    ComPort(u8, Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Data,
    Iac,
    /// After IAC WILL/WONT/DO/DONT, waiting for the option byte.
    Option(u8),
    Subnegotiation,
    SubnegotiationIac,
}

/// The receiving half of the telnet protocol as a byte-at-a-time state machine: splits what
/// the server sends into data, our replies to its option requests, and events.
#[derive(Debug)]
pub struct TelnetDecoder {
    state: State,
    sub: Vec<u8>,
    /// (verb, option) pairs already sent: each is sent at most once, so two peers that
    /// disagree cannot loop.
    sent: BTreeSet<(u8, u8)>,
}

impl Default for TelnetDecoder {
    fn default() -> Self {
        TelnetDecoder { state: State::Data, sub: Vec::new(), sent: BTreeSet::new() }
    }
}

impl TelnetDecoder {
    /// Our opening offer: WILL COM-PORT-OPTION, and BINARY both ways.
    pub fn opening(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for (verb, opt) in [(WILL, COM_PORT_OPTION), (WILL, BINARY), (DO, BINARY)] {
            self.reply(verb, opt, &mut out);
        }
        out
    }

    fn reply(&mut self, verb: u8, opt: u8, out: &mut Vec<u8>) {
        if self.sent.insert((verb, opt)) {
            out.extend_from_slice(&[IAC, verb, opt]);
        }
    }

    /// Feeds bytes from the server. Data goes to `data`, our answers to `replies` (to send
    /// as they are), and what the server said to `events`.
    pub fn decode(
        &mut self,
        input: &[u8],
        data: &mut Vec<u8>,
        replies: &mut Vec<u8>,
        events: &mut Vec<TelnetEvent>,
    ) -> Result<(), TelnetError> {
        for &b in input {
            self.state = match (self.state, b) {
                (State::Data, IAC) => State::Iac,
                (State::Data, _) => {
                    data.push(b);
                    State::Data
                }
                (State::Iac, IAC) => {
                    data.push(IAC);
                    State::Data
                }
                (State::Iac, WILL | WONT | DO | DONT) => State::Option(b),
                (State::Iac, SB) => {
                    self.sub.clear();
                    State::Subnegotiation
                }
                // NOP, data mark, break, go ahead and the like carry nothing for us.
                (State::Iac, 241..=249) => State::Data,
                (State::Iac, _) => return Err(TelnetError::NotACommand(b)),
                (State::Option(verb), opt) => {
                    self.option(verb, opt, replies, events);
                    State::Data
                }
                (State::Subnegotiation, IAC) => State::SubnegotiationIac,
                (State::Subnegotiation, _) => {
                    self.push_sub(b)?;
                    State::Subnegotiation
                }
                (State::SubnegotiationIac, IAC) => {
                    self.push_sub(IAC)?;
                    State::Subnegotiation
                }
                (State::SubnegotiationIac, SE) => {
                    self.subnegotiation(events);
                    State::Data
                }
                (State::SubnegotiationIac, _) => return Err(TelnetError::BadSubnegotiation(b)),
            };
        }
        Ok(())
    }

    fn push_sub(&mut self, b: u8) -> Result<(), TelnetError> {
        if self.sub.len() >= MAX_SUBNEGOTIATION {
            return Err(TelnetError::SubnegotiationTooLong);
        }
        self.sub.push(b);
        Ok(())
    }

    fn option(&mut self, verb: u8, opt: u8, replies: &mut Vec<u8>, events: &mut Vec<TelnetEvent>) {
        // BINARY and SUPPRESS-GO-AHEAD keep the link 8-bit clean and full duplex; nothing
        // else is wanted.
        let wanted = |o: u8| o == BINARY || o == SUPPRESS_GO_AHEAD;
        match verb {
            DO if opt == COM_PORT_OPTION => events.push(TelnetEvent::ComPortAccepted),
            DONT if opt == COM_PORT_OPTION => events.push(TelnetEvent::ComPortRefused),
            DO if wanted(opt) => self.reply(WILL, opt, replies),
            DO => self.reply(WONT, opt, replies),
            WILL if wanted(opt) => self.reply(DO, opt, replies),
            WILL => self.reply(DONT, opt, replies),
            // WONT / DONT: the option stays off, which is what we have.
            _ => {}
        }
    }

    fn subnegotiation(&mut self, events: &mut Vec<TelnetEvent>) {
        let sub = std::mem::take(&mut self.sub);
        match sub.as_slice() {
            [COM_PORT_OPTION, cmd, value @ ..] if *cmd >= SERVER_REPLY_OFFSET => {
                let cmd = cmd - SERVER_REPLY_OFFSET;
                match (cmd, value) {
                    (SET_BAUDRATE, [a, b, c, d]) => events.push(TelnetEvent::BaudRate(u32::from_be_bytes([*a, *b, *c, *d]))),
                    _ => events.push(TelnetEvent::ComPort(cmd, value.to_vec())),
                }
            }
            // Other options' subnegotiations (and our own commands echoed back) are ignored.
            _ => {}
        }
    }
}

/// Appends `data` with every 0xFF doubled (telnet's IAC escape).
pub fn escape_into(data: &[u8], out: &mut Vec<u8>) {
    for &b in data {
        if b == IAC {
            out.push(IAC);
        }
        out.push(b);
    }
}

/// `IAC SB COM-PORT-OPTION cmd value IAC SE`, the value escaped.
pub fn com_port_command(cmd: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![IAC, SB, COM_PORT_OPTION, cmd];
    escape_into(value, &mut out);
    out.extend_from_slice(&[IAC, SE]);
    out
}

/// What can go wrong while setting the port up.
#[derive(Debug, thiserror::Error)]
pub enum NegotiationError {
    #[error("the server closed the connection during RFC 2217 negotiation ({stage})")]
    Closed { stage: &'static str },
    #[error("no answer from the server within {waited:?} ({stage}; is it an RFC 2217 server? a raw TCP port is tcp://)")]
    Timeout { stage: &'static str, waited: Duration },
    #[error("the server refused COM-PORT-OPTION (a plain telnet server? a raw TCP port is tcp://)")]
    Refused,
    #[error("the server set {got} baud instead of {asked}")]
    WrongBaud { asked: u32, got: u32 },
    #[error(transparent)]
    Telnet(#[from] TelnetError),
    #[error("RFC 2217 negotiation: {0}")]
    Io(#[from] io::Error),
}

/// Negotiates COM-PORT-OPTION and sets `baud` 8N1; returns the stream that carries data.
/// `timeout` bounds each wait for the server. Data the server sends meanwhile is kept.
pub async fn negotiate<S>(mut inner: S, baud: u32, timeout: Duration) -> Result<Rfc2217Stream<S>, NegotiationError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut decoder = TelnetDecoder::default();
    let mut data = Vec::new();
    inner.write_all(&decoder.opening()).await?;
    inner.flush().await?;
    type Done = fn(&TelnetEvent) -> Option<Result<(), NegotiationError>>;
    let steps: [(&'static str, Done); 2] = [
        ("waiting for DO COM-PORT-OPTION", |e| match e {
            TelnetEvent::ComPortAccepted => Some(Ok(())),
            TelnetEvent::ComPortRefused => Some(Err(NegotiationError::Refused)),
            _ => None,
        }),
        ("waiting for the baud rate to be set", |e| matches!(e, TelnetEvent::BaudRate(_)).then_some(Ok(()))),
    ];
    // Events of one read may answer more than one step: they wait in a queue.
    let mut events = std::collections::VecDeque::new();
    for (i, (stage, done)) in steps.into_iter().enumerate() {
        if i == 1 {
            let mut settings = com_port_command(SET_BAUDRATE, &baud.to_be_bytes());
            settings.extend(com_port_command(SET_DATASIZE, &[8]));
            settings.extend(com_port_command(SET_PARITY, &[PARITY_NONE]));
            settings.extend(com_port_command(SET_STOPSIZE, &[STOPSIZE_ONE]));
            inner.write_all(&settings).await?;
            inner.flush().await?;
        }
        let mut buf = [0u8; 512];
        'wait: loop {
            while let Some(e) = events.pop_front() {
                if let TelnetEvent::BaudRate(got) = e {
                    if got != baud {
                        return Err(NegotiationError::WrongBaud { asked: baud, got });
                    }
                }
                if let Some(outcome) = done(&e) {
                    outcome?;
                    break 'wait;
                }
            }
            let n = match tokio::time::timeout(timeout, inner.read(&mut buf)).await {
                Err(_) => return Err(NegotiationError::Timeout { stage, waited: timeout }),
                Ok(r) => r?,
            };
            if n == 0 {
                return Err(NegotiationError::Closed { stage });
            }
            let (mut replies, mut new_events) = (Vec::new(), Vec::new());
            decoder.decode(&buf[..n], &mut data, &mut replies, &mut new_events)?;
            events.extend(new_events);
            if !replies.is_empty() {
                inner.write_all(&replies).await?;
                inner.flush().await?;
            }
        }
    }
    Ok(Rfc2217Stream { inner, decoder, readable: data, read_pos: 0, to_send: Vec::new(), sent: 0 })
}

/// The data channel of a negotiated RFC 2217 connection: reads are unescaped (telnet
/// commands answered or dropped), writes escaped.
pub struct Rfc2217Stream<S> {
    inner: S,
    decoder: TelnetDecoder,
    /// Data decoded but not read yet.
    readable: Vec<u8>,
    read_pos: usize,
    /// Escaped data and telnet replies not yet written, and how much of it was.
    to_send: Vec<u8>,
    sent: usize,
}

impl<S: AsyncWrite + Unpin> Rfc2217Stream<S> {
    fn poll_send_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.to_send.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.to_send[self.sent..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.to_send.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Rfc2217Stream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.read_pos < this.readable.len() {
                let n = buf.remaining().min(this.readable.len() - this.read_pos);
                buf.put_slice(&this.readable[this.read_pos..this.read_pos + n]);
                this.read_pos += n;
                if this.read_pos == this.readable.len() {
                    this.readable.clear();
                    this.read_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            let mut raw = [0u8; 1024];
            let mut raw_buf = ReadBuf::new(&mut raw);
            match Pin::new(&mut this.inner).poll_read(cx, &mut raw_buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) if raw_buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    let (mut replies, mut events) = (Vec::new(), Vec::new());
                    this.decoder
                        .decode(raw_buf.filled(), &mut this.readable, &mut replies, &mut events)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    if !replies.is_empty() {
                        this.to_send.extend_from_slice(&replies);
                        // Sent now if the socket takes it, else with the next write or flush.
                        if let Poll::Ready(Err(e)) = this.poll_send_pending(cx) {
                            return Poll::Ready(Err(e));
                        }
                    }
                    // Only telnet commands came: read on.
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rfc2217Stream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        // Take new data only once the last is out: the buffer stays bounded.
        match this.poll_send_pending(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other.map(|r| r.map(|()| 0)),
        }
        escape_into(buf, &mut this.to_send);
        if let Poll::Ready(Err(e)) = this.poll_send_pending(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.poll_send_pending(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.poll_send_pending(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.inner).poll_shutdown(cx),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn decode(d: &mut TelnetDecoder, input: &[u8]) -> Result<(Vec<u8>, Vec<u8>, Vec<TelnetEvent>), TelnetError> {
        let (mut data, mut replies, mut events) = (Vec::new(), Vec::new(), Vec::new());
        d.decode(input, &mut data, &mut replies, &mut events)?;
        Ok((data, replies, events))
    }

    #[test]
    fn doubled_iac_is_one_data_byte_both_ways() {
        let mut out = Vec::new();
        escape_into(&[1, 0xFF, 2, 0xFF, 0xFF], &mut out);
        assert_eq!(out, [1, 0xFF, 0xFF, 2, 0xFF, 0xFF, 0xFF, 0xFF]);
        let (data, replies, events) = decode(&mut TelnetDecoder::default(), &out).unwrap();
        assert_eq!(data, [1, 0xFF, 2, 0xFF, 0xFF]);
        assert!(replies.is_empty() && events.is_empty());
    }

    #[test]
    fn an_escape_split_across_reads_is_still_one_byte() {
        let mut d = TelnetDecoder::default();
        assert_eq!(decode(&mut d, b"a\xFF").unwrap().0, b"a");
        assert_eq!(decode(&mut d, b"\xFFb").unwrap().0, b"\xFFb");
        // And a command split the same way.
        assert_eq!(decode(&mut d, &[IAC]).unwrap().0, b"");
        assert_eq!(decode(&mut d, &[DO]).unwrap().0, b"");
        assert_eq!(decode(&mut d, &[COM_PORT_OPTION, b'c']).unwrap(), (b"c".to_vec(), vec![], vec![TelnetEvent::ComPortAccepted]));
    }

    #[test]
    fn other_options_are_refused_once_and_binary_accepted() {
        let mut d = TelnetDecoder::default();
        // ECHO (1) and TERMINAL-TYPE (24) are refused; BINARY accepted; repeats get no answer.
        let (_, replies, _) = decode(&mut d, &[IAC, WILL, 1, IAC, DO, 24, IAC, WILL, BINARY, IAC, WILL, 1]).unwrap();
        assert_eq!(replies, [IAC, DONT, 1, IAC, WONT, 24, IAC, DO, BINARY]);
        let (_, again, _) = decode(&mut d, &[IAC, DO, 24, IAC, WONT, 1]).unwrap();
        assert!(again.is_empty(), "{again:?}");
        // NOP and go-ahead are skipped; DONT COM-PORT-OPTION is a refusal.
        let (data, _, events) = decode(&mut d, &[b'x', IAC, 241, IAC, 249, b'y', IAC, DONT, COM_PORT_OPTION]).unwrap();
        assert_eq!(data, b"xy");
        assert_eq!(events, [TelnetEvent::ComPortRefused]);
    }

    #[test]
    fn server_answers_are_parsed_with_escaped_values() {
        let mut d = TelnetDecoder::default();
        // 0x0001_C2FF baud: the 0xFF byte is doubled inside the subnegotiation.
        let (_, _, events) = decode(&mut d, &[IAC, SB, COM_PORT_OPTION, 101, 0, 1, 0xC2, IAC, IAC, IAC, SE]).unwrap();
        assert_eq!(events, [TelnetEvent::BaudRate(0x0001_C2FF)]);
        let (_, _, events) = decode(&mut d, &[IAC, SB, COM_PORT_OPTION, 102, 8, IAC, SE, IAC, SB, 24, 0, IAC, SE]).unwrap();
        assert_eq!(events, [TelnetEvent::ComPort(SET_DATASIZE, vec![8])]);
        assert_eq!(com_port_command(SET_BAUDRATE, &0x0001_C2FFu32.to_be_bytes()), [IAC, SB, COM_PORT_OPTION, 1, 0, 1, 0xC2, IAC, IAC, IAC, SE]);
    }

    #[test]
    fn garbage_commands_are_errors_not_data() {
        assert_eq!(decode(&mut TelnetDecoder::default(), &[b'a', IAC, 7]).unwrap_err(), TelnetError::NotACommand(7));
        assert_eq!(decode(&mut TelnetDecoder::default(), &[IAC, SB, 44, IAC, 1]).unwrap_err(), TelnetError::BadSubnegotiation(1));
        let mut endless = vec![IAC, SB];
        endless.extend(std::iter::repeat(b'z').take(MAX_SUBNEGOTIATION + 1));
        assert_eq!(decode(&mut TelnetDecoder::default(), &endless).unwrap_err(), TelnetError::SubnegotiationTooLong);
    }

    const SHORT: Duration = Duration::from_secs(5);

    /// A scripted server: reads the client's opening offer, then sends `script`; with
    /// `close: Some(n)` it reads `n` more bytes and closes the connection.
    async fn server_then(script: Vec<u8>, close: Option<usize>) -> (tokio::io::DuplexStream, tokio::task::JoinHandle<Vec<u8>>) {
        let (client, mut server) = tokio::io::duplex(4096);
        let task = tokio::spawn(async move {
            let mut got = vec![0u8; 9];
            server.read_exact(&mut got).await.unwrap();
            server.write_all(&script).await.unwrap();
            if let Some(n) = close {
                let mut more = vec![0u8; n];
                server.read_exact(&mut more).await.unwrap();
                return got;
            }
            let mut rest = vec![0u8; 256];
            while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(300), server.read(&mut rest)).await {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&rest[..n]);
            }
            got
        });
        (client, task)
    }

    #[tokio::test]
    async fn negotiates_baud_keeps_early_data_and_escapes_writes() {
        let mut script = vec![IAC, DO, COM_PORT_OPTION, b'h', b'i', IAC, IAC];
        script.extend([IAC, SB, COM_PORT_OPTION, 101, 0, 0x01, 0xC2, 0x00, IAC, SE, b'!']);
        // An option request (ECHO) between data bytes: refused, the data kept.
        script.extend([IAC, WILL, 1, b'?']);
        let (client, server) = server_then(script, None).await;
        let mut s = negotiate(client, 115_200, SHORT).await.unwrap();
        let mut got = [0u8; 5];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hi\xFF!?");
        s.write_all(&[b'a', 0xFF, b'b']).await.unwrap();
        s.flush().await.unwrap();
        drop(s);
        let sent = server.await.unwrap();
        assert_eq!(&sent[..9], [IAC, WILL, COM_PORT_OPTION, IAC, WILL, BINARY, IAC, DO, BINARY]);
        let mut baud = com_port_command(SET_BAUDRATE, &115_200u32.to_be_bytes());
        baud.extend(com_port_command(SET_DATASIZE, &[8]));
        // (The ECHO refusal may go out before the settings.)
        assert!(sent[9..].windows(baud.len()).any(|w| w == baud), "{sent:?}");
        assert!(sent.ends_with(&[b'a', 0xFF, 0xFF, b'b']), "{sent:?}");
        assert!(sent.windows(3).any(|w| w == [IAC, DONT, 1]), "ECHO refused: {sent:?}");
    }

    #[tokio::test]
    async fn a_refusal_a_wrong_baud_and_garbage_are_clear_errors() {
        let (c, _s) = server_then(vec![IAC, DONT, COM_PORT_OPTION], None).await;
        let e = negotiate(c, 9600, SHORT).await.err().unwrap().to_string();
        assert!(e.contains("refused COM-PORT-OPTION") && e.contains("tcp://"), "{e}");

        let (c, _s) = server_then(vec![IAC, DO, COM_PORT_OPTION, IAC, SB, COM_PORT_OPTION, 101, 0, 0, 0x25, 0x80, IAC, SE], None).await;
        let e = negotiate(c, 115_200, SHORT).await.err().unwrap().to_string();
        assert_eq!(e, "the server set 9600 baud instead of 115200");

        // A peer that is no telnet server at all (it answers with text, then bytes that are
        // not telnet commands).
        let (c, _s) = server_then(b"SSH-2.0-OpenSSH\r\n\xFF\x10".to_vec(), None).await;
        let e = negotiate(c, 115_200, SHORT).await.err().unwrap().to_string();
        assert!(e.contains("IAC followed by 0x10") && e.contains("not an RFC 2217 server"), "{e}");

        // A peer that says nothing.
        let (c, _s) = server_then(b"hello".to_vec(), None).await;
        let e = negotiate(c, 115_200, Duration::from_millis(100)).await.err().unwrap().to_string();
        assert!(e.contains("no answer from the server within 100ms (waiting for DO COM-PORT-OPTION"), "{e}");
    }

    #[tokio::test]
    async fn a_peer_closing_mid_negotiation_names_the_stage() {
        let (c, s) = server_then(vec![IAC, DO, COM_PORT_OPTION], Some(31)).await;
        let e = negotiate(c, 115_200, SHORT).await.err().unwrap().to_string();
        s.await.unwrap();
        assert_eq!(e, "the server closed the connection during RFC 2217 negotiation (waiting for the baud rate to be set)");
        // Half a command, then gone.
        let (c, _s) = server_then(vec![IAC, SB, COM_PORT_OPTION, 101, 0], Some(0)).await;
        let e = negotiate(c, 115_200, SHORT).await.err().unwrap().to_string();
        assert!(e.contains("closed the connection") && e.contains("waiting for DO COM-PORT-OPTION"), "{e}");
    }
}
