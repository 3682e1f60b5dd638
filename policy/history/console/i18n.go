package console

// The console speaks English and Japanese, by the browser's language
// (Accept-Language, matched by golang.org/x/text/language), or as the
// lang parameter asks (?lang=ja, ?lang=en, which the pages' links carry).
// What the history holds (reasons, replies, rule and outcome names) is
// shown as it was recorded.

import (
	"fmt"
	"net/http"

	"golang.org/x/text/language"
)

// langs are the languages of the catalog, the first the default.
var langs = []language.Tag{language.English, language.Japanese}

var langMatcher = language.NewMatcher(langs)

// langOf returns "en" or "ja" for a request.
func langOf(r *http.Request) string {
	switch r.FormValue("lang") {
	case "en", "ja":
		return r.FormValue("lang")
	}
	_, i := language.MatchStrings(langMatcher, r.Header.Get("Accept-Language"))
	if i == 1 {
		return "ja"
	}
	return "en"
}

// tr returns the text of key in lang, formatted with args.
func tr(lang, key string, args ...any) string {
	m, ok := catalog[key]
	if !ok {
		return key
	}
	s := m[0]
	if lang == "ja" {
		s = m[1]
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// catalog holds each text in English and Japanese.
var catalog = map[string][2]string{
	"title":            {"Sekisho decisions", "関所 判定記録"},
	"nav_decisions":    {"Decisions", "判定"},
	"nav_chart":        {"Refusals by rule", "ルール別の拒否"},
	"nav_held":         {"Held mail", "保留メール"},
	"search":           {"Search", "検索"},
	"search_hint":      {"address, queue id, subject words, rule, outcome", "アドレス、キューID、件名の語、ルール、結果"},
	"any_time":         {"any time", "全期間"},
	"last_hour":        {"last hour", "直近1時間"},
	"last_24h":         {"last 24 hours", "直近24時間"},
	"last_7d":          {"last 7 days", "直近7日"},
	"last_30d":         {"last 30 days", "直近30日"},
	"found":            {"%d decisions found, newest first.", "%d 件の判定 (新しい順)。"},
	"latest":           {"Latest decisions, newest first.", "最新の判定 (新しい順)。"},
	"decision":         {"Decision %d", "判定 %d"},
	"time":             {"time", "日時"},
	"host":             {"host", "ホスト"},
	"queue_id":         {"queue id", "キューID"},
	"outcome":          {"outcome", "結果"},
	"dry_run":          {" (dry run)", " (試行)"},
	"stage":            {"stage", "段階"},
	"policy":           {"policy", "ポリシー"},
	"rule":             {"rule", "ルール"},
	"reason":           {"reason", "理由"},
	"reply":            {"reply", "応答"},
	"client":           {"client", "接続元"},
	"helo":             {"helo", "HELO"},
	"sender":           {"sender", "送信者"},
	"recipients":       {"recipients", "宛先"},
	"subject":          {"subject", "件名"},
	"attachments":      {"attachments", "添付ファイル"},
	"messages":         {"messages", "通数"},
	"chart_title":      {"Refusals by rule, per hour, last 7 days", "ルール別の拒否 (1時間ごと、直近7日)"},
	"chart_total":      {"%d messages refused, tempfailed, discarded or held since %s.", "%[2]s 以降、拒否・一時拒否・破棄・保留したメール %[1]d 通。"},
	"held_since":       {"held since", "保留日時"},
	"held_count":       {"%d messages held by sekisho", "関所が保留したメール %d 通"},
	"held_first":       {" (the first %d)", " (先頭 %d 通)"},
	"held_others":      {"; %d other held messages are not shown", "。ほかの保留メール %d 通は表示しません"},
	"release":          {"release", "配送"},
	"delete":           {"delete", "削除"},
	"confirm_release":  {"Release message %s?", "メール %s を配送しますか?"},
	"confirm_delete":   {"Delete message %s?", "メール %s を削除しますか?"},
	"explain_release":  {"The message is delivered to its recipients as it is; sekisho does not judge it again.", "メールをそのまま宛先に配送します。関所は再判定しません。"},
	"explain_delete":   {"The message is removed; its sender is not told.", "メールを削除します。送信者には通知されません。"},
	"do_release":       {"Release %s", "%s を配送"},
	"do_delete":        {"Delete %s", "%s を削除"},
	"cancel":           {"Cancel", "キャンセル"},
	"back_held":        {"Back to the held mail", "保留メールの一覧へ"},
	"done_release":     {"message %s released", "メール %s を配送しました"},
	"done_delete":      {"message %s deleted", "メール %s を削除しました"},
	"err_no_history":   {"no history is kept: set [history] store", "判定記録を保存していません: [history] store を設定してください"},
	"err_store":        {"the history store does not answer", "判定記録のストアが応答しません"},
	"err_since":        {"since: want an age such as 24h or 7d", "期間: 24h や 7d のように指定してください"},
	"err_held_off":     {"the held list is off: set [console] queue_command", "保留メールの一覧は無効です: [console] queue_command を設定してください"},
	"err_queue":        {"the hold queue cannot be read: %s", "保留キューを読めません: %s"},
	"err_not_held":     {"message %s is not in the hold queue as held by sekisho (released or deleted already?)", "メール %s は関所が保留したメールとして保留キューにありません (配送・削除済み?)"},
	"err_audit":        {"the audit log cannot be written, so nothing was done: %s", "監査ログに書き込めないため、何もしていません: %s"},
	"err_not_released": {"message %s not released: %s", "メール %s を配送できませんでした: %s"},
	"err_not_deleted":  {"message %s not deleted: %s", "メール %s を削除できませんでした: %s"},
	"other_lang":       {"日本語", "English"},
}
