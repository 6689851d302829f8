//! The layers and the flag table (moved from the binary with the code).

use std::time::Duration;

use super::settings::{self, Parsed};
use super::*;
use crate::middleware::ForwardedHeadersOptions;

fn host(args: &[&str], env: &[(&str, &str)]) -> Result<HostOptions, String> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    match settings::parse_layers(
        args.iter().map(|s| s.to_string()),
        &lookup,
        "peregrine",
        "0.0.0",
        &|| "help".to_owned(),
    )? {
        Parsed::Run(layers) => resolve(HostOptions::default(), &layers),
        Parsed::Exit(_) => Err("exit".into()),
    }
}

fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<ServerOptions, String> {
    host(args, env).map(|h| h.server)
}

#[test]
fn defaults_and_precedence() {
    assert_eq!(parse(&[], &[]).unwrap().urls, ["http://127.0.0.1:8080"]);
    let env = [("PEREGRINE_URLS", "http://127.0.0.1:1;http://[::1]:2")];
    assert_eq!(
        parse(&[], &env).unwrap().urls,
        ["http://127.0.0.1:1", "http://[::1]:2"]
    );
    assert_eq!(
        parse(&["--urls", "http://127.0.0.1:3"], &env).unwrap().urls,
        ["http://127.0.0.1:3"]
    );
    let o = parse(
        &[
            "--urls=http://127.0.0.1:3",
            "--urls",
            "http://127.0.0.1:4",
            "--workers",
            "2",
            "--cpus",
            "0,1-1",
        ],
        &[],
    )
    .unwrap();
    assert_eq!(o.urls.len(), 2);
    assert_eq!(o.workers, Some(2));
    assert_eq!(o.cpus, Some(vec![0, 1]));
}

#[test]
fn limits_from_flags_and_environment() {
    let env = [
        ("PEREGRINE_KEEP_ALIVE_TIMEOUT", "5s"),
        ("PEREGRINE_MAX_REQUEST_BODY_SIZE", "1M"),
    ];
    let o = parse(
        &[
            "--max-request-body-size",
            "unlimited",
            "--max-connections=10",
        ],
        &env,
    )
    .unwrap();
    assert_eq!(
        o.limits.max_request_body_size, None,
        "the flag wins over the environment"
    );
    assert_eq!(o.limits.keep_alive_timeout, Duration::from_secs(5));
    assert_eq!(o.limits.max_concurrent_connections, Some(10));
}

fn parse_cli(args: &[&str], env: &[(&str, &str)]) -> Result<Cli, String> {
    host(args, env).map(|h| Cli {
        middleware: Middleware(h.clone()),
        shutdown_timeout: h.shutdown_timeout,
        options: h.server,
    })
}

/// The shape the binary's tests had.
struct Cli {
    options: ServerOptions,
    shutdown_timeout: Duration,
    middleware: Middleware,
}

struct Middleware(HostOptions);

impl Middleware {
    fn describe(&self) -> Vec<String> {
        self.0.describe_middleware()
    }
}

#[test]
fn config_file_is_below_environment_and_flags() {
    let dir = std::env::temp_dir().join(format!("peregrine-main-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("p.toml");
    std::fs::write(
        &file,
        "urls = \"http://127.0.0.1:1\"\nworkers = 3\nshutdown_timeout = 7\n\
         unix_socket_mode = \"600\"\nserver_header = \"file\"\n\
         [limits]\nkeep-alive-timeout = \"11s\"\nmax-connections = 5\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();

    // The file alone (named by the flag, or by the environment).
    for (args, env) in [
        (vec!["--config", path], vec![]),
        (vec![], vec![("PEREGRINE_CONFIG", path)]),
    ] {
        let cli = parse_cli(&args, &env).unwrap();
        let o = &cli.options;
        assert_eq!(o.urls, ["http://127.0.0.1:1"]);
        assert_eq!(o.workers, Some(3));
        assert_eq!(o.unix_socket_mode, Some(0o600));
        assert_eq!(o.server_header.as_deref(), Some("file"));
        assert_eq!(o.limits.keep_alive_timeout, Duration::from_secs(11));
        assert_eq!(o.limits.max_concurrent_connections, Some(5));
        assert_eq!(cli.shutdown_timeout, Duration::from_secs(7));
    }

    // The environment overrides the file.
    let env = [
        ("PEREGRINE_URLS", "http://127.0.0.1:2"),
        ("PEREGRINE_WORKERS", "2"),
        ("PEREGRINE_KEEP_ALIVE_TIMEOUT", "12s"),
        ("PEREGRINE_SHUTDOWN_TIMEOUT", "8"),
        ("PEREGRINE_UNIX_SOCKET_MODE", "640"),
    ];
    let cli = parse_cli(&["--config", path], &env).unwrap();
    assert_eq!(cli.options.urls, ["http://127.0.0.1:2"]);
    assert_eq!(cli.options.workers, Some(2));
    assert_eq!(
        cli.options.limits.keep_alive_timeout,
        Duration::from_secs(12)
    );
    assert_eq!(
        cli.options.limits.max_concurrent_connections,
        Some(5),
        "kept from the file"
    );
    assert_eq!(cli.options.unix_socket_mode, Some(0o640));
    assert_eq!(cli.shutdown_timeout, Duration::from_secs(8));

    // Flags override both.
    let cli = parse_cli(
        &[
            "--config",
            path,
            "--urls",
            "http://127.0.0.1:3",
            "--workers=1",
            "--keep-alive-timeout",
            "13s",
            "--shutdown-timeout",
            "9",
            "--unix-socket-mode",
            "0o666",
            "--no-server-header",
        ],
        &env,
    )
    .unwrap();
    assert_eq!(cli.options.urls, ["http://127.0.0.1:3"]);
    assert_eq!(cli.options.workers, Some(1));
    assert_eq!(
        cli.options.limits.keep_alive_timeout,
        Duration::from_secs(13)
    );
    assert_eq!(cli.options.unix_socket_mode, Some(0o666));
    assert_eq!(cli.options.server_header, None);
    assert_eq!(cli.shutdown_timeout, Duration::from_secs(9));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn middleware_is_off_by_default_and_trust_lists_imply_forwarded_headers() {
    let m = parse_cli(&[], &[]).unwrap().middleware;
    assert!(m.0.forwarded_headers_options().is_none() && m.0.allowed_hosts.is_none());
    assert!(m.describe().is_empty());

    let m = parse_cli(&["--forwarded-headers"], &[]).unwrap().middleware;
    let f = m.0.forwarded_headers_options().expect("on");
    assert_eq!(f, ForwardedHeadersOptions::default(), "loopback trusted");
    let m = parse_cli(&["--forwarded-headers=false"], &[])
        .unwrap()
        .middleware;
    assert!(m.0.forwarded_headers_options().is_none());
    let m = parse_cli(&[], &[("PEREGRINE_FORWARDED_HEADERS", "true")])
        .unwrap()
        .middleware;
    assert!(m.0.forwarded_headers_options().is_some());

    let m = parse_cli(
        &[
            "--known-proxies",
            "10.0.0.5, [fd00::5]",
            "--known-proxies=10.0.0.6",
        ],
        &[("PEREGRINE_KNOWN_NETWORKS", "192.168.0.0/16")],
    )
    .unwrap()
    .middleware;
    let f = m.0.forwarded_headers_options().expect("implied");
    for trusted in [
        "127.0.0.1",
        "::1",
        "10.0.0.5",
        "fd00::5",
        "10.0.0.6",
        "192.168.7.7",
    ] {
        assert!(f.is_trusted(trusted.parse().unwrap()), "{trusted}");
    }
    assert!(!f.is_trusted("10.0.0.7".parse().unwrap()));

    // The flag replaces the environment's list.
    let m = parse_cli(
        &["--known-networks", "10.0.0.0/8"],
        &[("PEREGRINE_KNOWN_NETWORKS", "192.168.0.0/16")],
    )
    .unwrap()
    .middleware;
    let f = m.0.forwarded_headers_options().expect("implied");
    assert!(f.is_trusted("10.1.2.3".parse().unwrap()));
    assert!(!f.is_trusted("192.168.7.7".parse().unwrap()));

    let m = parse_cli(
        &[],
        &[("PEREGRINE_ALLOWED_HOSTS", "example.com,*.example.com")],
    )
    .unwrap()
    .middleware;
    assert!(m.0.forwarded_headers_options().is_none());
    assert_eq!(m.describe(), ["allowed hosts: example.com, *.example.com"]);
}

#[test]
fn bad_input_is_named() {
    for (args, env, want) in [
        (&["--bogus"][..], &[][..], "unknown argument \"--bogus\""),
        (
            &["--no-server-header=maybe"],
            &[],
            "--no-server-header: invalid value \"maybe\"",
        ),
        (
            &["--access-log=maybe"],
            &[],
            "--access-log: expected 1 or 0, got \"maybe\"",
        ),
        (&["--workers", "0"], &[], "invalid worker count \"0\""),
        (&["--engine", "iouring"], &[], "unknown engine \"iouring\""),
        (
            &["--protocols", "spdy"],
            &[],
            "unknown protocols \"spdy\" (expected Http1, Http2 or Http1AndHttp2)",
        ),
        (
            &[],
            &[("PEREGRINE_PROTOCOLS", "Http3")],
            "PEREGRINE_PROTOCOLS: protocols \"Http3\" is not supported",
        ),
        (
            &["--http2-max-frame-size", "1K"],
            &[],
            "http2.max_frame_size must be from 16384 to 16777215",
        ),
        (
            &["--http2-max-streams", "many"],
            &[],
            "invalid http2-max-streams \"many\": expected a number",
        ),
        (&["--admin-urls", "ftp://x:1"], &[], "--admin-urls: "),
        (
            &[],
            &[("PEREGRINE_ACCESS_LOG", "maybe")],
            "PEREGRINE_ACCESS_LOG: expected 1 or 0",
        ),
        (
            &[
                "--urls",
                "http://127.0.0.1:9",
                "--proxy-protocol-urls",
                "http://127.0.0.1:9",
            ],
            &[],
            "is both a plain and a PROXY protocol listen URL",
        ),
        (
            &[],
            &[("PEREGRINE_ENGINE", "kqueue")],
            "PEREGRINE_ENGINE: unknown engine",
        ),
        (&["--workers"], &[], "--workers needs a value"),
        (
            &["--urls", "127.0.0.1:80"],
            &[],
            "invalid listen URL \"127.0.0.1:80\"",
        ),
        (&["--cpus", "3-1"], &[], "invalid CPU list"),
        (
            &["--shutdown-timeout", "-1"],
            &[],
            "invalid --shutdown-timeout",
        ),
        (
            &[],
            &[("PEREGRINE_WORKERS", "x")],
            "PEREGRINE_WORKERS: invalid worker count",
        ),
        (
            &["--keep-alive-timeout", "soon"],
            &[],
            "invalid keep-alive-timeout \"soon\"",
        ),
        (
            &["--max-connections", "0"],
            &[],
            "max_concurrent_connections must be at least 1",
        ),
        (
            &["--config", "/nonexistent/p.toml"],
            &[],
            "config file /nonexistent/p.toml: cannot read it",
        ),
        (&["--config"], &[], "--config needs a value"),
        (
            &["--unix-socket-mode", "999"],
            &[],
            "invalid --unix-socket-mode \"999\"",
        ),
        (
            &[],
            &[("PEREGRINE_UNIX_SOCKET_MODE", "rw")],
            "PEREGRINE_UNIX_SOCKET_MODE: invalid --unix-socket-mode",
        ),
        (
            &[],
            &[("PEREGRINE_SHUTDOWN_TIMEOUT", "soon")],
            "PEREGRINE_SHUTDOWN_TIMEOUT: invalid --shutdown-timeout",
        ),
        (
            &["--urls", "unix:run.sock"],
            &[],
            "a Unix socket path must be absolute",
        ),
        (
            &[],
            &[("PEREGRINE_MAX_REQUEST_BODY_SIZE", "big")],
            "PEREGRINE_MAX_REQUEST_BODY_SIZE: invalid max-request-body-size",
        ),
        (
            &["--forwarded-headers=maybe"],
            &[],
            "--forwarded-headers: invalid value \"maybe\"",
        ),
        (
            &[],
            &[("PEREGRINE_FORWARDED_HEADERS", "maybe")],
            "PEREGRINE_FORWARDED_HEADERS: invalid value \"maybe\"",
        ),
        (
            &["--known-proxies", "10.0.0.1,proxy.internal"],
            &[],
            "invalid --known-proxies entry \"proxy.internal\"",
        ),
        (&["--known-proxies", ","], &[], "the list is empty"),
        (&["--known-proxies"], &[], "--known-proxies needs a value"),
        (
            &[],
            &[("PEREGRINE_KNOWN_PROXIES", "1.2.3")],
            "PEREGRINE_KNOWN_PROXIES: invalid --known-proxies entry",
        ),
        (
            &["--known-networks", "10.0.0.0/33"],
            &[],
            "invalid --known-networks entry \"10.0.0.0/33\"",
        ),
        (
            &[],
            &[("PEREGRINE_KNOWN_NETWORKS", "10.0.0.0")],
            "PEREGRINE_KNOWN_NETWORKS: invalid --known-networks entry",
        ),
        (
            &["--allowed-hosts", "exa mple.com"],
            &[],
            "--allowed-hosts: invalid allowed host",
        ),
        (
            &[],
            &[("PEREGRINE_ALLOWED_HOSTS", " , ")],
            "PEREGRINE_ALLOWED_HOSTS: no allowed hosts",
        ),
    ] {
        let e = parse(args, env).unwrap_err();
        assert!(e.contains(want), "{args:?}: {e}");
    }
}

#[test]
fn help_and_parser_read_one_table() {
    let help = HostBuilder::new("peregrine").help();
    let table: Vec<Setting> = settings().collect();
    for s in &table {
        let head = match s.value {
            Some(v) => format!("--{} <{v}>", s.name),
            None => format!("--{}", s.name),
        };
        assert!(help.contains(&head), "help lacks {head}:\n{help}");
        if let Some(var) = s.env_var() {
            assert!(help.contains(&format!("[env: {var}]")), "help lacks {var}");
        }
        // The parser knows every flag the help shows (no "unknown argument").
        let flag = format!("--{}", s.name);
        match host(&[&flag], &[]) {
            Ok(_) => {}
            Err(e) => assert!(!e.contains("unknown argument"), "{flag}: {e}"),
        }
    }
    // Every limit is a row, with its value form: a limit added to LIMIT_SETTINGS needs no
    // edit in the host to be a flag, a variable and a help line.
    for (name, form) in crate::server::LIMIT_SETTINGS {
        assert!(help.contains(&format!("--{name} <{form}>")), "{name}");
        assert!(
            help.contains(&format!("[env: {}]", env_var(name))),
            "{name}"
        );
    }
    assert!(help.contains("[default: http://127.0.0.1:8080] [env: PEREGRINE_URLS]"));
    assert!(help.contains("SYSTEMD:"));
    assert!(!help.lines().any(|l| l.len() > 100), "{help}");
}

#[test]
fn protocols_and_http2_limits_come_from_the_file_the_environment_and_flags() {
    use crate::server::HttpProtocols;
    let dir = std::env::temp_dir().join(format!("peregrine-host-h2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("h2.toml");
    std::fs::write(
        &file,
        "protocols = \"Http2\"\n[limits]\nhttp2-max-streams = 50\n\
         http2_keep_alive_ping_delay = \"30s\"\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let h = host(&[], &[]).unwrap();
    assert_eq!(
        h.server.protocols,
        HttpProtocols::Http1AndHttp2,
        "the default"
    );
    let h = host(&["--config", path], &[]).unwrap();
    assert_eq!(h.server.protocols, HttpProtocols::Http2);
    assert_eq!(h.server.limits.http2.max_streams_per_connection, 50);
    assert_eq!(
        h.server.limits.http2.keep_alive_ping_delay,
        Some(Duration::from_secs(30))
    );
    let env = [
        ("PEREGRINE_PROTOCOLS", "Http1"),
        ("PEREGRINE_HTTP2_MAX_STREAMS", "60"),
    ];
    let h = host(&["--config", path], &env).unwrap();
    assert_eq!(h.server.protocols, HttpProtocols::Http1);
    assert_eq!(h.server.limits.http2.max_streams_per_connection, 60);
    let h = host(
        &[
            "--config",
            path,
            "--protocols",
            "Http1AndHttp2",
            "--http2-max-streams",
            "70",
        ],
        &env,
    )
    .unwrap();
    assert_eq!(h.server.protocols, HttpProtocols::Http1AndHttp2);
    assert_eq!(h.server.limits.http2.max_streams_per_connection, 70);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_proxy_settings_engine_and_admin_urls_are_file_keys_below_environment_and_flags() {
    let dir = std::env::temp_dir().join(format!("peregrine-host-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("p.toml");
    std::fs::write(
        &file,
        "engine = \"portable\"\naccess_log = true\nadmin_urls = \"http://127.0.0.1:0\"\n\
         known_proxies = [\"10.0.0.5\"]\nknown_networks = \"192.168.0.0/16\"\n\
         allowed_hosts = [\"example.com\", \"*.example.com\"]\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let h = host(&["--config", path], &[]).unwrap();
    assert_eq!(h.server.engine, crate::server::EngineChoice::Portable);
    assert!(h.server.access_log);
    assert_eq!(h.admin_urls, ["http://127.0.0.1:0"]);
    let f = h
        .forwarded_headers_options()
        .expect("implied by the trust lists");
    assert!(f.is_trusted("10.0.0.5".parse().unwrap()));
    assert!(f.is_trusted("192.168.1.1".parse().unwrap()));
    assert!(f.is_trusted("127.0.0.1".parse().unwrap()), "loopback stays");
    assert_eq!(
        h.allowed_hosts.as_deref(),
        Some(&["example.com".to_owned(), "*.example.com".to_owned()][..])
    );

    // The environment overrides the file, the flags override both.
    let env = [
        ("PEREGRINE_KNOWN_PROXIES", "10.0.0.6"),
        ("PEREGRINE_ENGINE", "auto"),
        ("PEREGRINE_ACCESS_LOG", "0"),
        ("PEREGRINE_ALLOWED_HOSTS", "env.example"),
    ];
    let h = host(&["--config", path], &env).unwrap();
    let f = h.forwarded_headers_options().unwrap();
    assert!(f.is_trusted("10.0.0.6".parse().unwrap()));
    assert!(!f.is_trusted("10.0.0.5".parse().unwrap()), "replaced");
    assert!(
        f.is_trusted("192.168.1.1".parse().unwrap()),
        "kept from the file"
    );
    assert_eq!(h.server.engine, crate::server::EngineChoice::Auto);
    assert!(!h.server.access_log);
    assert_eq!(h.allowed_hosts, Some(vec!["env.example".to_owned()]));
    let h = host(
        &[
            "--config",
            path,
            "--engine",
            "portable",
            "--allowed-hosts",
            "flag.example",
            "--forwarded-headers=false",
        ],
        &env,
    )
    .unwrap();
    assert_eq!(h.server.engine, crate::server::EngineChoice::Portable);
    assert_eq!(h.allowed_hosts, Some(vec!["flag.example".to_owned()]));
    assert!(
        h.forwarded_headers_options().is_none(),
        "the flag turns it off"
    );

    // A bad value in the file names the file and the key.
    std::fs::write(&file, "known_proxies = [\"proxy.internal\"]\n").unwrap();
    let e = host(&["--config", path], &[]).unwrap_err();
    assert!(
        e.contains(&format!(
            "config file {path}: known_proxies: invalid --known-proxies entry"
        )),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn endpoints_from_the_file_replace_the_default_url_but_not_given_urls() {
    let dir = std::env::temp_dir().join(format!("peregrine-host-ep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("p.toml");
    std::fs::write(
        &file,
        "[endpoints.public]\nurl = \"http://127.0.0.1:0\"\n\
         [endpoints.lb]\nurl = \"unix:/run/p/lb.sock\"\nproxy_protocol = true\n\
         unix_socket_mode = \"660\"\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let h = host(&["--config", path], &[]).unwrap();
    assert!(h.server.urls.is_empty(), "{:?}", h.server.urls);
    let mut endpoints = h.server.endpoints.clone();
    endpoints.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(
        endpoints,
        [
            crate::server::Endpoint::new("lb", "unix:/run/p/lb.sock")
                .proxy_protocol(true)
                .unix_socket_mode(0o660),
            crate::server::Endpoint::new("public", "http://127.0.0.1:0"),
        ]
    );
    let h = host(&["--config", path, "--urls", "http://127.0.0.1:1"], &[]).unwrap();
    assert_eq!(h.server.urls, ["http://127.0.0.1:1"]);
    assert_eq!(h.server.endpoints.len(), 2);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_code_defaults_are_the_lowest_layer() {
    let h = HostBuilder::new("t")
        .args(["--workers", "3"])
        .env(|k| (k == "PEREGRINE_SHUTDOWN_TIMEOUT").then(|| "4".to_owned()))
        .configure(|o| {
            o.server.workers = Some(1);
            o.server.cpus = Some(vec![0]);
            o.shutdown_timeout = Duration::from_secs(9);
            o.admin_urls = vec!["http://127.0.0.1:0".into()];
        })
        .build()
        .unwrap();
    let o = h.options();
    assert_eq!(o.server.workers, Some(3), "the flag wins");
    assert_eq!(
        o.shutdown_timeout,
        Duration::from_secs(4),
        "the environment wins"
    );
    assert_eq!(o.server.cpus, Some(vec![0]), "kept from code");
    assert_eq!(o.admin_urls, ["http://127.0.0.1:0"]);

    match HostBuilder::new("t").args(["--help"]).build() {
        Err(HostError::Exit(text)) => assert!(text.starts_with("t: "), "{text}"),
        _ => panic!("--help is an exit"),
    }
    match HostBuilder::new("t").version("9.1").args(["-V"]).build() {
        Err(HostError::Exit(text)) => assert_eq!(text, "t 9.1\n"),
        _ => panic!("--version is an exit"),
    }
    match HostBuilder::new("t").args(["--workers", "0"]).build() {
        Err(e @ HostError::Usage(_)) => {
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains("invalid worker count"), "{e}");
        }
        _ => panic!("a usage error"),
    }
}
