cluster {
    dead-interval 500
    group VyOS {
        auto-failback true
        monitor 192.0.2.254
        primary vyos1
        secondary vyos2
        service 192.0.2.10/24/eth1
        service 192.0.2.20/24
    }
    interface eth1
    keepalive-interval 100
    monitor-dead-interval 420
    pre-shared-secret qwerty
}
interfaces {
    ethernet eth1 {
        address 192.0.2.1/24
    }
    ethernet eth2 {
        address 10.255.0.1/30
    }
}
service {
    conntrack-sync {
        accept-protocol tcp,udp
        failover-mechanism {
            cluster {
                group VyOS
            }
        }
        interface eth2
        mcast-group 225.0.0.50
    }
}
system {
    host-name vyos1
}
/* Warning: Do not remove the following line. */
/* === vyatta-config-version: "cluster@1:config-management@1:conntrack-sync@1:conntrack@1:system@10:vrrp@2" === */
/* Release version: 1.2.8 */
