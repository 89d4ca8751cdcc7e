/*
 * ctsync: nothing is configured. Configure the router with
 * `ctsync configure` (set, commit), then `save` writes this file, which
 * ctsyncd commits at every boot.
 */
