firewall {
    all-ping enable
    broadcast-ping disable
    name WAN-IN {
        default-action drop
        rule 10 {
            action accept
            state {
                established enable
                related enable
            }
        }
    }
}
interfaces {
    ethernet eth0 {
        address 198.18.0.3/24
        duplex auto
        hw-id 52:54:00:c0:a8:03
        smp_affinity auto
        speed auto
        vrrp {
            vrrp-group 1 {
                advertise-interval 1
                authentication {
                    password s3cret
                    type plaintext-password
                }
                preempt true
                priority 100
                sync-group MAIN
                virtual-address 198.18.0.101
            }
        }
    }
    ethernet eth1 {
        address 198.18.10.3/24
        description "conntrack sync link"
        duplex auto
        hw-id 52:54:00:c0:a8:13
        smp_affinity auto
        speed auto
    }
    loopback lo {
    }
}
nat {
    source {
        rule 100 {
            outbound-interface eth0
            source {
                address 198.19.0.0/16
            }
            translation {
                address masquerade
            }
        }
    }
}
service {
    conntrack-sync {
        accept-protocol tcp,udp,icmp
        event-listen-queue-size 8
        failover-mechanism {
            vrrp {
                sync-group MAIN
            }
        }
        interface eth1
        mcast-group 225.0.0.50
        sync-queue-size 1
    }
    ssh {
        port 22
    }
}
system {
    host-name fw-b
    login {
        user vyatta {
            authentication {
                encrypted-password $1$4XHPj9eT$G3ww9B/pYDLSXC8YVvazP0
            }
            level admin
        }
    }
    ntp {
        server 0.vyatta.pool.ntp.org {
        }
    }
    syslog {
        global {
            facility all {
                level notice
            }
        }
    }
    time-zone GMT
}


/* Warning: Do not remove the following line. */
/* === vyatta-config-version: "cluster@1:config-management@1:conntrack-sync@1:conntrack@1:cron@1:dhcp-relay@1:dhcp-server@4:firewall@4:ipsec@3:nat@3:qos@1:quagga@2:system@6:vrrp@1:wanloadbalance@3:webgui@1:webproxy@1:zone-policy@1" === */
/* Release version: VC6.6R1 */
