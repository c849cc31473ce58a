use super::*;
use proptest::prelude::*;

type Cmds = Vec<Vec<Vec<u8>>>;

fn cmds(list: &[&[&[u8]]]) -> Cmds {
    list.iter()
        .map(|c| c.iter().map(|a| a.to_vec()).collect())
        .collect()
}

fn collect(buf: &[u8], batch: &Batch, out: &mut Cmds) {
    for i in 0..batch.len() {
        out.push(
            batch
                .cmd_args(i)
                .iter()
                .map(|&(a, b)| buf[a..b].to_vec())
                .collect(),
        );
    }
}

/// Feeds `input` in chunks ending at `cuts`, like a connection would. `front`: after every call
/// the partial frame is copied to the front of a fresh buffer; otherwise bytes are appended in
/// place and `start` advances. Calls again after progress so a deferred error surfaces.
fn feed(
    input: &[u8],
    cuts: &[usize],
    limits: &Limits,
    front: bool,
) -> (Cmds, Option<ProtocolError>) {
    let mut parser = Parser::new();
    let mut batch = Batch::default();
    let mut out = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let (mut start, mut prev) = (0, 0);
    let mut ends: Vec<usize> = cuts.iter().copied().filter(|&c| c <= input.len()).collect();
    ends.push(input.len());
    ends.sort_unstable();
    ends.dedup();
    for &cut in &ends {
        buf.extend_from_slice(&input[prev..cut]);
        prev = cut;
        loop {
            batch.clear();
            match parser.parse(&mut buf, start, limits, &mut batch) {
                Ok(n) => {
                    assert!(start <= n && n <= buf.len());
                    for &(a, b) in &batch.args {
                        assert!(start <= a && a <= b && b <= n);
                    }
                    collect(&buf, &batch, &mut out);
                    let progressed = n != start;
                    if front {
                        buf = buf[n..].to_vec();
                        start = 0;
                    } else {
                        start = n;
                    }
                    if !progressed {
                        break;
                    }
                }
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

fn whole(input: &[u8]) -> (Cmds, Option<ProtocolError>) {
    feed(input, &[], &Limits::default(), false)
}

/// One parse call on the whole input: (commands, result).
fn once(input: &[u8]) -> (Cmds, Result<usize, ProtocolError>) {
    let mut buf = input.to_vec();
    let mut batch = Batch::default();
    let r = Parser::new().parse(&mut buf, 0, &Limits::default(), &mut batch);
    let mut out = Vec::new();
    collect(&buf, &batch, &mut out);
    (out, r)
}

fn err_of(input: &[u8]) -> ProtocolError {
    let (c, r) = once(input);
    assert!(c.is_empty(), "{c:?}");
    r.unwrap_err()
}

#[test]
fn error_texts() {
    use ProtocolError::*;
    let cases = [
        (
            InvalidMultibulkLength,
            "Protocol error: invalid multibulk length",
        ),
        (InvalidBulkLength, "Protocol error: invalid bulk length"),
        (
            ExpectedDollar(b'x'),
            "Protocol error: expected '$', got 'x'",
        ),
        (
            ExpectedDollar(b'\r'),
            "Protocol error: expected '$', got ' '",
        ),
        (TooBigInline, "Protocol error: too big inline request"),
        (
            TooBigMbulkCount,
            "Protocol error: too big mbulk count string",
        ),
        (TooBigBulkCount, "Protocol error: too big bulk count string"),
        (
            UnbalancedQuotes,
            "Protocol error: unbalanced quotes in request",
        ),
    ];
    for (e, text) in cases {
        assert_eq!(e.msg(), text);
        assert_eq!(e.to_string(), text);
    }
}

#[test]
fn multibulk_errors() {
    use ProtocolError::*;
    for bad in [
        &b"*x\r\n"[..],
        b"*\r\n",
        b"*01\r\n",
        b"*+1\r\n",
        b"* 1\r\n",
        b"*-0\r\n",
        b"*1 \r\n",
        b"*3000000000\r\n",
    ] {
        assert_eq!(
            err_of(bad),
            InvalidMultibulkLength,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    for bad in [
        &b"*1\r\n$x\r\n"[..],
        b"*1\r\n$-1\r\n",
        b"*1\r\n$\r\n",
        b"*1\r\n$01\r\n",
        b"*1\r\n$536870913\r\n",
    ] {
        assert_eq!(
            err_of(bad),
            InvalidBulkLength,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    assert_eq!(err_of(b"*1\r\nx3\r\nabc\r\n"), ExpectedDollar(b'x'));
    assert_eq!(err_of(b"*2\r\n$1\r\na\r\n:1\r\n"), ExpectedDollar(b':'));
    // Redis checks the '$' only once the whole line is buffered.
    assert_eq!(once(b"*1\r\nx3").1, Ok(0));
    assert_eq!(once(b"*1\r\nx3\r").1, Ok(0));
    // The largest accepted bulk length waits for its payload.
    assert_eq!(once(b"*1\r\n$536870912\r\n").1, Ok(0));
    assert_eq!(once(b"*0\r\n").1, Ok(4));
}

#[test]
fn unauthenticated_limits_like_redis() {
    let lim = Limits {
        unauthenticated: true,
        ..Limits::default()
    };
    // Ten arguments and 16 KiB bulks are fine before AUTH; one more is refused.
    let mut ten = b"*10\r\n".to_vec();
    for _ in 0..10 {
        ten.extend_from_slice(b"$1\r\na\r\n");
    }
    let (c, e) = feed(&ten, &[], &lim, false);
    assert_eq!((c.len(), e), (1, None));
    let (_, e) = feed(b"*11\r\n", &[], &lim, false);
    assert_eq!(e, Some(ProtocolError::UnauthenticatedMultibulkLength));
    assert_eq!(
        ProtocolError::UnauthenticatedMultibulkLength.msg(),
        "Protocol error: unauthenticated multibulk length"
    );
    let mut ok = b"*2\r\n$4\r\nAUTH\r\n$16384\r\n".to_vec();
    ok.extend(vec![b'p'; 16384]);
    ok.extend_from_slice(b"\r\n");
    let (c, e) = feed(&ok, &[], &lim, false);
    assert_eq!((c.len(), e), (1, None));
    let (_, e) = feed(b"*2\r\n$4\r\nAUTH\r\n$16385\r\n", &[], &lim, false);
    assert_eq!(e, Some(ProtocolError::UnauthenticatedBulkLength));
    assert_eq!(
        ProtocolError::UnauthenticatedBulkLength.msg(),
        "Protocol error: unauthenticated bulk length"
    );
    // The same bulk split so the fast path cannot see it whole is refused too.
    let (_, e) = feed(b"*2\r\n$4\r\nAUTH\r\n$99999\r\nxy", &[], &lim, false);
    assert_eq!(e, Some(ProtocolError::UnauthenticatedBulkLength));
}

#[test]
fn custom_limits() {
    let lim = Limits {
        max_bulk_len: 3,
        max_multibulk_len: 2,
        unauthenticated: false,
    };
    let (_, e) = feed(b"*3\r\n", &[], &lim, false);
    assert_eq!(e, Some(ProtocolError::InvalidMultibulkLength));
    let (_, e) = feed(b"*1\r\n$4\r\nabcd\r\n", &[], &lim, false);
    assert_eq!(e, Some(ProtocolError::InvalidBulkLength));
    let (c, e) = feed(b"*2\r\n$3\r\nabc\r\n$0\r\n\r\n", &[], &lim, false);
    assert_eq!((c, e), (cmds(&[&[b"abc", b""]]), None));
}

#[test]
fn too_big_lines() {
    use ProtocolError::*;
    let mut line = vec![b'a'; INLINE_MAX];
    assert_eq!(once(&line).1, Ok(0));
    line.push(b'a');
    assert_eq!(err_of(&line), TooBigInline);
    // Only an unterminated line is limited, as in Redis.
    line.extend_from_slice(b" b\r\n");
    let (c, r) = once(&line);
    assert_eq!(r, Ok(line.len()));
    assert_eq!(c[0][1], b"b");

    let mut count = b"*".to_vec();
    count.resize(INLINE_MAX, b'1');
    assert_eq!(once(&count).1, Ok(0));
    count.push(b'1');
    assert_eq!(err_of(&count), TooBigMbulkCount);

    let mut bulk = b"*1\r\n$".to_vec();
    bulk.resize(4 + INLINE_MAX, b'1');
    assert_eq!(once(&bulk).1, Ok(0));
    bulk.push(b'1');
    assert_eq!(err_of(&bulk), TooBigBulkCount);
    // A far '\r' makes the line complete, and then it is simply not a number.
    bulk.extend_from_slice(b"\r\n");
    assert_eq!(err_of(&bulk), InvalidBulkLength);
}

#[test]
fn string2ll_like_redis() {
    for (s, v) in [
        ("0", Some(0)),
        ("-1", Some(-1)),
        ("9223372036854775807", Some(i64::MAX)),
    ] {
        assert_eq!(string2ll(s.as_bytes()), v);
    }
    assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
    for s in [
        "",
        "-",
        "-0",
        "00",
        "01",
        "+1",
        " 1",
        "1 ",
        "9223372036854775808",
        "-9223372036854775809",
        "1a",
        "123456789012345678901",
    ] {
        assert_eq!(string2ll(s.as_bytes()), None, "{s}");
    }
}

#[test]
fn inline_splitting() {
    let ok = |line: &[u8], want: &[&[u8]]| {
        let (c, r) = once(line);
        assert_eq!(r, Ok(line.len()), "{:?}", String::from_utf8_lossy(line));
        assert_eq!(c, cmds(&[want]), "{:?}", String::from_utf8_lossy(line));
    };
    ok(b"PING\r\n", &[b"PING"]);
    ok(b"PING\n", &[b"PING"]);
    ok(b"  SET\tk   v \r\n", &[b"SET", b"k", b"v"]);
    ok(b"SET \"a b\" 'c d'\r\n", &[b"SET", b"a b", b"c d"]);
    ok(
        b"E \"\\x41\\x7a\\n\\r\\t\\b\\a\\\\\\\"\\q\"\r\n",
        &[b"E", b"Az\n\r\t\x08\x07\\\"q"],
    );
    ok(b"E \"\\xZZ\\x4\"\n", &[b"E", b"xZZx4"]);
    ok(
        b"E 'it\\'s' 'a\\nb' '\"'\n",
        &[b"E", b"it's", b"a\\nb", b"\""],
    );
    ok(b"E a\"b c\"\n", &[b"E", b"ab c"]);
    ok(b"E \"\" ''\n", &[b"E", b"", b""]);
    ok(b"E \"a\"\tb \"c\"\x0bd\n", &[b"E", b"a", b"b", b"c", b"d"]);
    ok(b"E a\x0bb\x0c\n", &[b"E", b"a\x0bb\x0c"]);
    ok(b"E a\rb\n", &[b"E", b"a", b"b"]);
    ok(b"E \"x\"\r\r\n", &[b"E", b"x"]);
    ok(b"E a\0b\n", &[b"E", b"a\0b"]);
    ok(b"E \xff\xfe\n", &[b"E", b"\xff\xfe"]);
    for bad in [
        &b"E \"abc\"def\n"[..],
        b"E \"abc\n",
        b"E 'abc\n",
        b"E 'a'b\n",
        b"E \"a\\\"\n",
        b"\"\n",
    ] {
        assert_eq!(
            err_of(bad),
            ProtocolError::UnbalancedQuotes,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn frames_without_command() {
    for input in [
        &b"\r\n"[..],
        b"\n",
        b"   \r\n",
        b"\t\n",
        b"*0\r\n",
        b"*-1\r\n",
        b"*-5\r\n",
        b"\n\n\r\n*0\r\n",
    ] {
        let (c, r) = once(input);
        assert_eq!(
            (c.len(), r),
            (0, Ok(input.len())),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    let (c, r) = once(b"*0\r\n*1\r\n$4\r\nPING\r\n\r\n");
    assert_eq!((c, r), (cmds(&[&[b"PING"]]), Ok(20)));
}

#[test]
fn bulk_contents() {
    let input = b"*3\r\n$4\r\nECHO\r\n$0\r\n\r\n$7\r\na\r\nb\0\r\n\r\n";
    assert_eq!(
        once(input),
        (cmds(&[&[b"ECHO", b"", b"a\r\nb\0\r\n"]]), Ok(input.len()))
    );
    // The two bytes after a payload and after a '\r' of a length line are not checked.
    let input = b"*1\rX$3\rYabcXY";
    assert_eq!(once(input), (cmds(&[&[b"abc"]]), Ok(input.len())));
}

#[test]
fn big_bulk() {
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut input = format!("*2\r\n$3\r\nSET\r\n${}\r\n", payload.len()).into_bytes();
    input.extend_from_slice(&payload);
    input.extend_from_slice(b"\r\n*1\r\n$4\r\nPING\r\n");
    let want = vec![
        vec![b"SET".to_vec(), payload.clone()],
        vec![b"PING".to_vec()],
    ];
    assert_eq!(whole(&input), (want.clone(), None));
    let cuts: Vec<usize> = (0..input.len()).step_by(16 * 1024 + 3).collect();
    assert_eq!(
        feed(&input, &cuts, &Limits::default(), true),
        (want.clone(), None)
    );
    assert_eq!(feed(&input, &cuts, &Limits::default(), false), (want, None));
}

#[test]
fn needed_tracks_pending_payload() {
    let mut p = Parser::new();
    let mut b = Batch::default();
    let mut buf = b"*1\r\n$100\r\nab".to_vec();
    assert_eq!(p.needed(), 0);
    assert_eq!(p.parse(&mut buf, 0, &Limits::default(), &mut b), Ok(0));
    assert_eq!(p.needed(), 100);
    buf.extend_from_slice(&[b'x'; 50]);
    assert_eq!(p.parse(&mut buf, 0, &Limits::default(), &mut b), Ok(0));
    assert_eq!(p.needed(), 50);
    buf.extend_from_slice(&[b'x'; 50]);
    assert_eq!(
        p.parse(&mut buf, 0, &Limits::default(), &mut b),
        Ok(buf.len())
    );
    assert_eq!((p.needed(), b.len()), (0, 1));

    let mut buf = b"*1\r\n$10000000\r\n".to_vec();
    assert_eq!(p.parse(&mut buf, 0, &Limits::default(), &mut b), Ok(0));
    assert_eq!(p.needed(), 1 << 20);
    p.reset();
    assert_eq!(p.needed(), 0);
}

#[test]
fn partial_frame_is_not_rescanned() {
    let mut p = Parser::new();
    let mut b = Batch::default();
    let mut buf = b"junk*2\r\n$3\r\nGET\r\n$5\r\nhel".to_vec();
    buf[..4].copy_from_slice(b"PIN\n");
    assert_eq!(p.parse(&mut buf, 0, &Limits::default(), &mut b), Ok(4));
    assert_eq!(b.len(), 1);
    // Move the frame to the front and corrupt its validated header bytes: a parser that starts
    // over would now fail on them.
    let mut buf = buf[4..].to_vec();
    buf[0] = b'!';
    buf[4] = b'#';
    buf.extend_from_slice(b"lo\r\n");
    b.clear();
    assert_eq!(
        p.parse(&mut buf, 0, &Limits::default(), &mut b),
        Ok(buf.len())
    );
    let mut out = Vec::new();
    collect(&buf, &b, &mut out);
    assert_eq!(out, cmds(&[&[b"GET", b"hello"]]));
}

#[test]
fn error_after_good_commands_is_deferred() {
    for (input, good, err) in [
        (
            &b"PING\r\n*x\r\n"[..],
            6,
            ProtocolError::InvalidMultibulkLength,
        ),
        (
            b"*1\r\n$4\r\nPING\r\n\"a\r\n",
            14,
            ProtocolError::UnbalancedQuotes,
        ),
        (
            b"PING\r\n*2\r\n$4\r\nPING\r\n?\r\n",
            6,
            ProtocolError::ExpectedDollar(b'?'),
        ),
        (
            b"PING\r\n*2\r\n$4\r\nPING\r\n\r?",
            6,
            ProtocolError::ExpectedDollar(b'\r'),
        ),
    ] {
        let mut buf = input.to_vec();
        let mut p = Parser::new();
        let mut b = Batch::default();
        assert_eq!(p.parse(&mut buf, 0, &Limits::default(), &mut b), Ok(good));
        assert_eq!(b.len(), 1);
        let args = b.args.len();
        assert_eq!(
            p.parse(&mut buf, good, &Limits::default(), &mut b),
            Err(err.clone())
        );
        assert_eq!(b.args.len(), args, "a failed frame leaves no args behind");
        // Without a preceding command the error comes at once.
        assert_eq!(err_of(&input[good..]), err);
    }
}

#[test]
fn prealloc_is_bounded() {
    let mut b = Batch::default();
    let mut buf = b"*2000000000\r\n$3\r\nabc\r\n".to_vec();
    assert_eq!(
        Parser::new().parse(&mut buf, 0, &Limits::default(), &mut b),
        Ok(0)
    );
    assert!(
        b.args.capacity() <= 2 * ARGS_PREALLOC_MAX,
        "{}",
        b.args.capacity()
    );
}

const STREAM: &[u8] = b"*2\r\n$3\r\nGET\r\n$10\r\nkey:000123\r\n\
SET k \"a b\\x00\" 'c\\'d'\r\n\
\r\n*0\r\n*-1\r\n\
*3\r\n$3\r\nSET\r\n$0\r\n\r\n$6\r\n\r\n\r\n\r\n\r\n\
PING\n\
*1\r\n$4\r\nPING\r\n";

fn stream_cmds() -> Cmds {
    cmds(&[
        &[b"GET", b"key:000123"],
        &[b"SET", b"k", b"a b\0", b"c'd"],
        &[b"SET", b"", b"\r\n\r\n\r\n"],
        &[b"PING"],
        &[b"PING"],
    ])
}

#[test]
fn every_split_point() {
    let want = (stream_cmds(), None);
    assert_eq!(whole(STREAM), want);
    let lim = Limits::default();
    for front in [true, false] {
        for i in 0..=STREAM.len() {
            assert_eq!(
                feed(STREAM, &[i], &lim, front),
                want,
                "split at {i}, front={front}"
            );
            for j in i..=STREAM.len() {
                assert_eq!(feed(STREAM, &[i, j], &lim, front), want, "split at {i},{j}");
            }
        }
        let bytewise: Vec<usize> = (0..=STREAM.len()).collect();
        assert_eq!(
            feed(STREAM, &bytewise, &lim, front),
            want,
            "byte by byte, front={front}"
        );
    }
}

fn encode_multibulk(args: &[Vec<u8>], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Inline encoding of arbitrary bytes: plain words where possible, else quoted with escapes.
fn encode_inline(args: &[Vec<u8>], style: u8, out: &mut Vec<u8>) {
    for (i, a) in args.iter().enumerate() {
        out.extend_from_slice(if i == 0 && style & 1 == 0 {
            b""
        } else if style & 2 == 0 {
            b" "
        } else {
            b" \t "
        });
        let plain = !a.is_empty()
            && a.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"-_:.".contains(c));
        if plain && style & 4 == 0 {
            out.extend_from_slice(a);
        } else if !a.contains(&b'\'')
            && !a.contains(&b'\\')
            && a.iter().all(|c| c.is_ascii_graphic() || *c == b' ')
            && style & 8 != 0
        {
            out.push(b'\'');
            out.extend_from_slice(a);
            out.push(b'\'');
        } else {
            out.push(b'"');
            for &c in a {
                match c {
                    b'"' | b'\\' => out.extend_from_slice(&[b'\\', c]),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    _ if c.is_ascii_graphic() || c == b' ' => out.push(c),
                    _ => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
                }
            }
            out.push(b'"');
        }
    }
    out.extend_from_slice(if style & 16 == 0 { b"\r\n" } else { b"\n" });
}

fn arg() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..12),
        proptest::collection::vec(proptest::sample::select(b"abc:\r\n *$'\"\\".to_vec()), 0..8),
        "[a-z0-9]{1,6}".prop_map(String::into_bytes),
    ]
}

fn frames() -> impl Strategy<Value = Vec<(Vec<Vec<u8>>, Option<u8>)>> {
    let frame = (
        proptest::collection::vec(arg(), 0..5),
        proptest::option::of(any::<u8>()),
    );
    proptest::collection::vec(frame, 0..8)
}

fn cut_points(len: usize, picks: &[proptest::sample::Index]) -> Vec<usize> {
    picks.iter().map(|p| p.index(len + 1)).collect()
}

fn interesting_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        any::<u8>(),
        proptest::sample::select(b"*$\r\n0123456789-\"' \\x".to_vec())
    ];
    proptest::collection::vec(byte, 0..300)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(
        mut input in interesting_bytes(),
        prefix in proptest::sample::select(vec![&b""[..], b"*", b"*3\r\n", b"*2\r\n$", b"*1\r\n$5\r\n"]),
        picks in proptest::collection::vec(any::<proptest::sample::Index>(), 0..6),
        small in any::<bool>(),
    ) {
        input.splice(0..0, prefix.iter().copied());
        let lim = if small { Limits { max_bulk_len: 20, max_multibulk_len: 5, unauthenticated: false } } else { Limits::default() };
        let cuts = cut_points(input.len(), &picks);
        // Same result however the bytes are split, and memory bounded by the input.
        let one = feed(&input, &[], &lim, false);
        prop_assert_eq!(&feed(&input, &cuts, &lim, true), &one);
        prop_assert_eq!(&feed(&input, &cuts, &lim, false), &one);

        let bound = 2 * (input.len() + ARGS_PREALLOC_MAX) + 16;
        let mut p = Parser::new();
        let mut b = Batch::default();
        let mut buf = Vec::new();
        let mut start = 0;
        let mut prev = 0;
        for cut in cuts.iter().copied().chain([input.len()]) {
            let cut = cut.max(prev);
            buf.extend_from_slice(&input[prev..cut]);
            prev = cut;
            match p.parse(&mut buf, start, &lim, &mut b) {
                Ok(n) => start = n,
                Err(_) => break,
            }
            prop_assert!(b.args.capacity() <= bound && b.cmds.capacity() <= bound && p.args.capacity() <= bound);
            let _ = p.needed();
        }
    }

    #[test]
    fn random_splits_same_commands(
        frames in frames(),
        picks in proptest::collection::vec(any::<proptest::sample::Index>(), 0..10),
    ) {
        let mut input = Vec::new();
        let mut want = Vec::new();
        for (args, inline_style) in &frames {
            match inline_style {
                Some(style) => encode_inline(args, *style, &mut input),
                None => encode_multibulk(args, &mut input),
            }
            if !args.is_empty() {
                want.push(args.clone());
            }
        }
        let want = (want, None);
        let cuts = cut_points(input.len(), &picks);
        prop_assert_eq!(&whole(&input), &want);
        prop_assert_eq!(&feed(&input, &cuts, &Limits::default(), true), &want);
        prop_assert_eq!(&feed(&input, &cuts, &Limits::default(), false), &want);
    }

    #[test]
    fn multibulk_round_trip(cmds in proptest::collection::vec(proptest::collection::vec(arg(), 0..6), 0..10)) {
        let mut input = Vec::new();
        for c in &cmds {
            encode_multibulk(c, &mut input);
        }
        let want: Cmds = cmds.into_iter().filter(|c| !c.is_empty()).collect();
        let (got, r) = once(&input);
        prop_assert_eq!(r, Ok(input.len()));
        prop_assert_eq!(got, want);
    }
}
