// Package synth generates deterministic synthetic families, children's cases
// and tracing requests with ground truth, and measures the matcher on them:
// Somali, Arabic-speaking (Sudanese, Syrian, Iraqi) and Afghan naming, the
// variation between what a caseworker registered and what a family reports
// (spelling and transliteration variants, Somali orthography, typos,
// nicknames, swapped and missing name parts, estimated ages, missing fields,
// nearby places), Arabic-script requests against Latin cases, and
// distractors (registered siblings, children of other families with the same
// given and father's name, unrelated children).
//
// Run the quality test with
//
//	go test ./node/matching/synth -run TestQuality -v
package synth
