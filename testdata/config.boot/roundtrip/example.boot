high-availability {
    vrrp {
        group wan {
            address 198.18.0.101/24 {
            }
            interface eth0
            vrid 1
        }
        sync-group MAIN-GW {
            member wan
        }
    }
}
service {
    conntrack-sync {
        accept-protocol tcp
        accept-protocol udp
        description "two words"
        disable-external-cache
        failover-mechanism {
            vrrp {
                sync-group MAIN-GW
            }
        }
        interface eth1 {
            peer 192.0.2.2
        }
    }
}
// Warning: Do not remove the following line.
// vyos-config-version: "conntrack-sync@1:vrrp@3"
