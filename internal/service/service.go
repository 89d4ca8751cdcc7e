// Package service is what a config session and the service that owns the
// running configuration (ctsyncd, internal/configd) agree on: how a
// commit is asked for and the errors it can end in. Both import it, and
// neither imports the other's types for it, so the arrow from configd to
// session stays the only one.
package service

// CommitOptions say who commits, why, and how.
type CommitOptions struct {
	User    string
	Comment string
	// ConfirmMinutes, when positive, makes this a commit-confirm: unless
	// it is confirmed within that many minutes (each as long as the
	// service's confirm unit), the service commits the previous revision
	// back.
	ConfirmMinutes int
	// Base is the running revision the candidate was built on; the
	// service refuses with ErrStale when the running configuration has
	// moved since, and the session merges again.
	Base int
	// CheckBase turns the Base check on: a session always sets it, as
	// revision 0 is a base like any other.
	CheckBase bool
	// Merged says the candidate merges another session's commit.
	Merged bool
	// Local commits on this router only, when config sync would make
	// it a commit of the pair (`commit local`).
	Local bool
}
