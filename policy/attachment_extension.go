package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/sekisho/sekisho/policy/mime"
)

// DefaultDeniedExtensions are the Windows file types that run code when
// opened.
var DefaultDeniedExtensions = []string{
	"exe", "scr", "com", "pif", "bat", "cmd", "vbs", "vbe", "js", "jse", "wsf", "wsh",
	"hta", "cpl", "msi", "msc", "jar", "lnk", "iso", "img",
}

// AttachmentExtensionConfig is [rules.attachment_extension]: attachments
// whose name or content is executable.
type AttachmentExtensionConfig struct {
	RuleCommon
	Deny           []string `toml:"deny"`        // extensions refused
	Executables    bool     `toml:"executables"` // PE, ELF, Mach-O content whatever the name
	Archives       bool     `toml:"archives"`    // look into zip archives
	Encrypted      string   `toml:"encrypted"`   // action for an encrypted archive; "accept" lets it through (see also [rules.encrypted_archive])
	EncryptedReply Reply    `toml:"encrypted_reply"`

	deny      []string
	encrypted Action
}

func (c *AttachmentExtensionConfig) setDefaults() {
	c.outcome(Reject, Reply{Code: 550, Enhanced: "5.7.1", Text: "Attachment type not allowed: {filename}"})
	c.Deny = slices.Clone(DefaultDeniedExtensions)
	c.Executables, c.Archives = true, true
	c.Encrypted = "accept"
	c.EncryptedReply = Reply{Code: 550, Enhanced: "5.7.1", Text: "Encrypted archives are not accepted: {filename}"}
}

// derive: an encrypted archive set to tempfail without a reply of its own
// gets the 4xx counterpart of the default one.
func (c *AttachmentExtensionConfig) derive(set func(string) bool) {
	if c.Encrypted == "tempfail" && !set("encrypted_reply") {
		c.EncryptedReply = temporary(c.EncryptedReply)
	}
}

func (c *AttachmentExtensionConfig) validate() []*ConfigError {
	var errs []*ConfigError
	c.deny = nil
	for _, d := range c.Deny {
		if strings.Trim(d, ". ") == "" || strings.ContainsAny(d, "/\\ *") {
			errs = append(errs, &ConfigError{Key: "deny", Msg: fmt.Sprintf("%q is not a file extension", d)})
		}
		c.deny = append(c.deny, strings.ToLower(strings.Trim(d, ". ")))
	}
	c.encrypted = Continue
	if c.Encrypted != "accept" {
		a, err := ParseAction(c.Encrypted)
		if err != nil {
			errs = append(errs, &ConfigError{Key: "encrypted", Msg: err.Error() + " or accept"})
		} else if err := a.fits(c.EncryptedReply); err != nil {
			errs = append(errs, &ConfigError{Key: "encrypted_reply", Msg: err.Error()})
		}
		c.encrypted = a
	}
	return errs
}

func (c *AttachmentExtensionConfig) needs() Needs {
	return Needs{Stages: []Stage{StageEOB}, Vars: []string{"filename"}, Inspection: true, CrossCheck: true, Derive: true}
}

// crossCheck: with encrypted_archive on, encrypted archives are its alone.
func (c *AttachmentExtensionConfig) crossCheck(rules *RulesConfig) (string, string) {
	if ea := rules.EncryptedArchive; ea != nil && ea.Enabled && c.Encrypted != "accept" {
		return "encrypted", "encrypted archives are judged by {prefix}encrypted_archive, which is on: set their outcome there only"
	}
	return "", ""
}

func (c *AttachmentExtensionConfig) build(*Env) (Rule, error) {
	return &attachmentExtension{deny: c.deny, executables: c.Executables, archives: c.Archives,
		encrypted: c.encrypted, encryptedReply: c.EncryptedReply}, nil
}

// attachmentExtension refuses, at end of body, attachments with a denied
// extension (the last one counts: invoice.pdf.exe is an exe), executable
// content under any name, and either of those inside zip archives.
type attachmentExtension struct {
	deny           []string
	executables    bool
	archives       bool
	encrypted      Action // Continue: encrypted archives are let through
	encryptedReply Reply
}

func (r *attachmentExtension) Name() string { return "attachment_extension" }

func (r *attachmentExtension) Check(_ context.Context, _ Stage, m *Message) (Hit, error) {
	var encrypted *mime.Attachment
	for i, a := range m.Inspection.Attachments {
		name := attachmentName(a)
		if why, short := r.judge(a.Ext, a.Executable); why != "" {
			return extensionHit(name+" "+why, short, attachmentFilename(a)), nil
		}
		for n, ext := range otherNames(a) {
			if why, short := r.judge(ext, ""); why != "" {
				return extensionHit(fmt.Sprintf("%s, also read as %q, %s", name, n, why), short, attachmentFilename(a)), nil
			}
		}
		if !r.archives || a.Archive == nil {
			continue
		}
		if hit := r.archive(a.Archive, name, attachmentFilename(a)); hit.Matched {
			return hit, nil
		}
		if locked, _ := archiveLocks(a.Archive); locked && encrypted == nil {
			encrypted = &m.Inspection.Attachments[i]
		}
	}
	if encrypted != nil && r.encrypted != Continue {
		h := extensionHit(attachmentName(*encrypted)+" is an encrypted archive", "encrypted archive", attachmentFilename(*encrypted))
		h.Action, h.Reply = r.encrypted, r.encryptedReply
		return h, nil
	}
	return Hit{}, nil
}

// extensionHit is a hit of the rule: why for the log, short for {reason},
// the file's name for {filename}.
func extensionHit(why, short, filename string) Hit {
	return Hit{Matched: true, Reason: why, Vars: map[string]string{"reason": short, "filename": filename}}
}

// judge returns why a file is denied, for the log and, shorter, for a
// reply; "" when it is not.
func (r *attachmentExtension) judge(ext, executable string) (why, short string) {
	if ext != "" && slices.Contains(r.deny, ext) {
		return "denied extension " + ext, "file type ." + ext + " not allowed"
	}
	if r.executables && executable != "" {
		return "is an executable (" + executable + ")", "executable program (" + executable + ")"
	}
	return "", ""
}

// archive looks through an archive and its nested archives for an entry
// that is denied. Entries decrypted with a password are read like the
// others. path names the archive in the log, filename in a reply.
func (r *attachmentExtension) archive(ar *mime.Archive, path, filename string) Hit {
	for _, e := range ar.Entries {
		p := path + " > " + fmt.Sprintf("%q", e.Name)
		f := filename + " > " + replyName(e.Name)
		if why, short := r.judge(e.Ext, e.Executable); why != "" {
			return extensionHit(p+" "+why, short, f)
		}
		for _, n := range e.OtherNames {
			if why, short := r.judge(mime.Ext(n), ""); why != "" {
				return extensionHit(fmt.Sprintf("%s, also read as %q, %s", p, n, why), short, f)
			}
		}
		if e.Archive != nil {
			if hit := r.archive(e.Archive, p, f); hit.Matched {
				return hit
			}
		}
	}
	return Hit{}
}

// attachmentFilename is how a reply names an attachment ({filename}): its
// name as replyName gives it, or, for an attachment without one, its MIME
// part: "part 2 (no name)".
func attachmentFilename(a mime.Attachment) string {
	if a.Filename == "" {
		return "part " + a.Part + " (no name)"
	}
	return replyName(a.Filename)
}
