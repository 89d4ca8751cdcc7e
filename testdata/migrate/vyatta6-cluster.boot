cluster {
    dead-interval 10000
    group GROUP1 {
        primary fw-a
        secondary fw-b
        service 192.0.2.1/24/eth0
    }
    interface eth1
    keepalive-interval 2000
    pre-shared-secret !secret!
}
interfaces {
    ethernet eth0 {
        address 192.0.2.2/24
        vif 100 {
            address 10.100.0.2/24
            vrrp {
                vrrp-group 100 {
                    preempt false
                    preempt-delay 30
                    priority 150
                    run-transition-scripts {
                        master /config/scripts/master.sh
                    }
                    sync-group LAN
                    virtual-address 10.100.0.1
                    virtual-address 10.100.0.254
                }
            }
        }
        vrrp {
            vrrp-group 10 {
                advertise-interval 2
                priority 150
                sync-group LAN
                virtual-address 192.0.2.1/24
                vrrp-track-unknown 1
            }
        }
    }
    ethernet eth1 {
        address 10.255.0.1/30
    }
}
service {
    conntrack-sync {
        accept-protocol tcp,udp
        event-listen-queue-size 8
        failover-mechanism {
            cluster {
                group GROUP1
            }
        }
        ignore-address {
            ipv4 10.255.0.1
            ipv4 10.255.0.2
        }
        interface eth1
        mcast-group 225.0.0.50
        sync-queue-size 1
    }
}
/* Warning: Do not remove the following line. */
/* === vyatta-config-version: "cluster@1:conntrack-sync@1:system@6:vrrp@1" === */
