package mime

// ContentType returns the media type of a Content-Type field value and the
// values of its parameter param, read as the inspection reads a part's
// type (see mediaType and paramValues): every reading a client could
// take, the first being Thunderbird's.
func ContentType(value, param string) (mediaTypeOf string, values []string) {
	tok, ps := parseParams(value)
	return mediaType(tok), paramValues(ps, param, false)
}
