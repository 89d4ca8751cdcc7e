high-availability {
    /* the pair's VRRP: r1 is master */
    vrrp {
        /* uplink; see ticket 4711 */
        group wan {
            address 198.51.100.1/24 {
            }
            interface eth0
            /* lower on r2 */
            priority 200
            vrid 1
        }
    }
}
/* conntrackd replication */
service {
    conntrack-sync {
        /* dedicated link */
        interface eth1 {
        }
    }
}
