high-availability {
    disable
    virtual-server 203.0.113.10 {
        port 80
        protocol tcp
        real-server 192.0.2.11 {
            port 80
        }
    }
    vrrp {
        group WAN {
            interface eth0
            priority 200
            transition-script {
                mode-force
            }
            virtual-address 203.0.113.1/24
            virtual-address-excluded 203.0.113.10/24
            virtual-address-excluded 2001:db8::10/64
            vrid 20
        }
        sync-group MAIN {
            member WAN
        }
    }
}
service {
    conntrack-sync {
        accept-protocol tcp
        expect-sync all
        failover-mechanism {
            vrrp {
                sync-group MAIN
            }
        }
        interface eth1 {
            peer 10.255.0.2
        }
    }
}
// Warning: Do not remove the following line.
// vyos-config-version: "conntrack-sync@2:vrrp@2"
// Release version: 1.3.4
