firewall {
    all-ping enable
    broadcast-ping disable
    config-trap disable
    ip-src-route disable
    ipv6-receive-redirects disable
    ipv6-src-route disable
    log-martians enable
    name WAN-IN {
        default-action drop
        description "WAN to LAN: replies only"
        rule 10 {
            action accept
            state {
                established enable
                related enable
            }
        }
        rule 20 {
            action drop
            state {
                invalid enable
            }
        }
    }
    receive-redirects disable
    send-redirects enable
    source-validation disable
    syn-cookies enable
}
interfaces {
    ethernet lan0 {
        address 198.18.1.3/24
        description LAN
        duplex auto
        hw-id 52:54:00:12:01:03
        smp_affinity auto
        speed auto
        vrrp {
            vrrp-group 10 {
                advertise-interval 1
                authentication {
                    password ctlab10
                    type plaintext-password
                }
                preempt true
                priority 100
                sync-group MAIN
                virtual-address 198.18.1.1
            }
        }
    }
    ethernet sync0 {
        address 198.18.255.2/30
        description "conntrack-sync link to the other router"
        duplex auto
        hw-id 52:54:00:12:ff:03
        smp_affinity auto
        speed auto
    }
    ethernet wan0 {
        address 198.19.0.3/24
        description WAN
        duplex auto
        firewall {
            in {
                name WAN-IN
            }
        }
        hw-id 52:54:00:13:00:03
        smp_affinity auto
        speed auto
        vrrp {
            vrrp-group 20 {
                advertise-interval 1
                authentication {
                    password ctlab20
                    type plaintext-password
                }
                preempt true
                priority 100
                sync-group MAIN
                virtual-address 198.19.0.101
            }
        }
    }
    loopback lo {
    }
}
nat {
    source {
        rule 100 {
            outbound-interface wan0
            source {
                address 198.18.1.0/24
            }
            translation {
                address 198.19.0.101
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
        interface sync0
        mcast-group 225.0.0.50
        sync-queue-size 1
    }
    ssh {
        port 22
    }
}
system {
    config-management {
        commit-revisions 20
    }
    console {
        device ttyS0 {
            speed 9600
        }
    }
    host-name fw-lab-b
    login {
        user vyatta {
            authentication {
                encrypted-password $1$ctlab03$Qm3x0e9TfQmS8HkP1xk7Y/
            }
            level admin
        }
    }
    ntp {
        server 0.vyatta.pool.ntp.org {
        }
    }
    package {
        auto-sync 1
        repository community {
            components main
            distribution stable
            password ""
            url http://packages.vyatta.com/vyatta
            username ""
        }
    }
    syslog {
        global {
            facility all {
                level notice
            }
            facility protocols {
                level debug
            }
        }
    }
    time-zone GMT
}


/* Warning: Do not remove the following line. */
/* === vyatta-config-version: "cluster@1:config-management@1:conntrack-sync@1:conntrack@1:cron@1:dhcp-relay@1:dhcp-server@4:firewall@4:ipsec@3:nat@3:qos@1:quagga@2:system@6:vrrp@1:wanloadbalance@3:webgui@1:webproxy@1:zone-policy@1" === */
/* Release version: VC6.6R1 */
