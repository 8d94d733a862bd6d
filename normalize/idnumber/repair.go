package idnumber

import "sort"

// RepairCandidates lists the valid IDs one typing error away from id, a
// cleaned 18-character string of digits and X that failed validation: every
// string obtained by one substitution (any position; digits 0-9, and X in the
// last position) or by swapping two adjacent characters, that passes all
// checks of Normalize (check char, calendar date, birth year 1880..today,
// province code). The result is sorted and free of duplicates. It is empty
// for inputs that are not 18 characters of [0-9X], and for valid inputs
// (MOD 11-2 detects every single substitution and adjacent swap, so a valid
// ID has no valid neighbour).
//
// Candidates are suggestions to be confirmed against a registry (name and
// birth date in the 户籍 extract); they must never be accepted automatically.
func RepairCandidates(id string) []string {
	if len(id) != 18 {
		return nil
	}
	for i := 0; i < 18; i++ {
		if c := id[i]; (c < '0' || c > '9') && c != 'X' {
			return nil
		}
	}
	if Valid(id) {
		return nil
	}
	var out []string
	var b [18]byte
	copy(b[:], id)
	try := func() {
		if Valid(string(b[:])) {
			out = append(out, string(b[:]))
		}
	}
	const alphabet = "0123456789X"
	for i := 0; i < 18; i++ {
		orig := b[i]
		n := 10
		if i == 17 {
			n = 11
		}
		for k := 0; k < n; k++ {
			if alphabet[k] == orig {
				continue
			}
			b[i] = alphabet[k]
			try()
		}
		b[i] = orig
	}
	for i := 0; i < 17; i++ {
		if b[i] == b[i+1] {
			continue
		}
		b[i], b[i+1] = b[i+1], b[i]
		try()
		b[i], b[i+1] = b[i+1], b[i]
	}
	if len(out) == 0 {
		return nil
	}
	sort.Strings(out)
	j := 1
	for i := 1; i < len(out); i++ {
		if out[i] != out[j-1] {
			out[j] = out[i]
			j++
		}
	}
	return out[:j]
}
