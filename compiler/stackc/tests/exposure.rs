//! `stackc exposure` (`stackc::exposure`): every port with its reach, the routes that reach
//! it and the firewall rules that cover it, from the same derivations the targets use.

use stackc::exposure::{rows, table, Reach};
use stackc::ir::Protocol;
use stackc::Options;

const STACK: &str = r#"stack "shop"
param "office" default="192.0.2.0/24" env="OFFICE"
param "bind" default="10.0.0.1" env="BIND"
service "web" {
    image "ghcr.io/acme/web:1.0"
    port 8080 name="http"
    health http="/"
}
service "admin" {
    image "ghcr.io/acme/admin:1.0"
    port 8443 name="http"
    health http="/"
    publish 8443
}
service "metrics" {
    image "ghcr.io/acme/metrics:1.0"
    port 9100 name="http"
    health http="/"
    publish 9100 host="127.0.0.1"
    publish 9200 target=9100 host="${bind}"
}
service "game" {
    image "ghcr.io/acme/game:1.0"
    health cmd="true"
    publish 27015 protocol="udp"
}
proxy {
    tls hsts="365d"
}
site "shop.example.com" {
    route "/" to="web"
    route "/admin/" to="admin"
}
firewall {
    allow 22 protocol="tcp"
    allow 8443 from="${office}" protocol="tcp"
}
targets {
    compose
    nginx
    ufw
}
"#;

/// A row's fields: service, port, protocol, reach, host port, routes, firewall.
type Fields = (String, u16, Protocol, Reach, Option<u16>, Vec<String>, String);

#[test]
fn every_port_with_its_reach_routes_and_firewall() {
    let out = stackc::compile("t.stack.kdl", STACK, &Options::default());
    let stack = out.stack.unwrap_or_else(|| panic!("{:#?}", out.diagnostics));
    let got: Vec<Fields> = rows(&stack)
        .into_iter()
        .map(|r| (r.service, r.port, r.protocol, r.reach, r.host_port, r.routes, r.firewall))
        .collect();
    let s = |x: &str| x.to_string();
    let sites = vec![s("sites: shop.example.com")];
    assert_eq!(
        got,
        [
            (s("(nginx)"), 80, Protocol::Tcp, Reach::Public, Some(80), sites.clone(), s("allow 80/tcp")),
            (s("(nginx)"), 443, Protocol::Tcp, Reach::Public, Some(443), sites, s("allow 443/tcp")),
            (s("web"), 8080, Protocol::Tcp, Reach::Internal, None, vec![s("https://shop.example.com/")], s("-")),
            (
                s("admin"),
                8443,
                Protocol::Tcp,
                Reach::Public,
                Some(8443),
                vec![s("https://shop.example.com/admin/")],
                s("allow from ${office} to any port 8443 proto tcp; else default incoming: deny (also in DOCKER-USER)")
            ),
            (s("metrics"), 9100, Protocol::Tcp, Reach::Host(s("127.0.0.1")), Some(9100), vec![], s("- (loopback)")),
            (
                s("metrics"),
                9100,
                Protocol::Tcp,
                Reach::HostParam(s("${bind}")),
                Some(9200),
                vec![],
                s("not governed (the address is set at deploy)")
            ),
            (s("game"), 27015, Protocol::Udp, Reach::Public, Some(27015), vec![], s("allow 27015/udp")),
        ]
    );
    let t = table(&stack);
    assert!(t.starts_with("SERVICE  PORT       EXPOSURE"), "{t}");
    assert!(t.contains("\nweb      8080/tcp   internal "), "{t}");
    assert!(t.contains("host ${bind}:9200 (deploy decides)"), "{t}");
    assert_eq!(t.lines().count(), 8, "{t}");
}

#[test]
fn without_a_firewall_public_ports_are_not_filtered() {
    let src = "stack \"s\"\nservice \"a\" {\n    image \"ghcr.io/acme/a:1.0\"\n    health cmd=\"true\"\n    publish 8081\n}\ntargets {\n    compose\n}\n";
    let out = stackc::compile("t.stack.kdl", src, &Options::default());
    let r = rows(out.stack.as_ref().unwrap());
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].reach.clone(), r[0].firewall.as_str()), (Reach::Public, "no `firewall`: not filtered"));
}
