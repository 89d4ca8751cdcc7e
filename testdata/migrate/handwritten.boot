high-availability {
    vrrp {
        group wan {
            address 198.18.0.101/24
            interface eth0
            vrid 1
        }
        sync-group MAIN {
            member wan {
            }
        }
    }
}
service {
    conntrack-sync {
        failover-mechanism {
            vrrp {
                sync-group MAIN
            }
        }
        interface eth1 {
            peer 198.18.10.3
        }
    }
}
