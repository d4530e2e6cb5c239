"""The pages' words in Vietnamese and English: chosen by the `lang` cookie (the switch),
else the browser's Accept-Language, else Vietnamese (the province's language)."""

from __future__ import annotations

from starlette.requests import Request

LANGUAGES = ("vi", "en")
COOKIE = "lrs_lang"

MESSAGES: dict[str, dict[str, str]] = {
    "title": {"en": "Learning record store", "vi": "Kho hồ sơ học tập"},
    "skip": {"en": "Skip to content", "vi": "Chuyển đến nội dung"},
    "signin": {"en": "Sign in", "vi": "Đăng nhập"},
    "signout": {"en": "Sign out", "vi": "Đăng xuất"},
    "key": {"en": "Key", "vi": "Khóa"},
    "secret": {"en": "Secret", "vi": "Mật mã"},
    "signin_help": {
        "en": "Use the key and secret of an LRS credential (lrs credentials create).",
        "vi": "Dùng khóa và mật mã của một thông tin xác thực LRS (lrs credentials create).",
    },
    "bad_credentials": {
        "en": "Unknown key or wrong secret. Check both and try again.",
        "vi": "Khóa không tồn tại hoặc sai mật mã. Kiểm tra lại cả hai rồi thử lại.",
    },
    "bad_csrf": {
        "en": "This form expired. Reload the page and send it again.",
        "vi": "Biểu mẫu đã hết hạn. Tải lại trang rồi gửi lại.",
    },
    "forbidden": {
        "en": "Your credential may not see this page. Ask an administrator for the right role.",
        "vi": "Thông tin xác thực của bạn không được xem trang này. Hãy đề nghị quản trị viên cấp đúng vai trò.",
    },
    "not_found": {
        "en": "Nothing here, or nothing you may see. Go back to the start page.",
        "vi": "Không có gì ở đây, hoặc bạn không được xem. Quay lại trang đầu.",
    },
    "bad_request": {"en": "Check this value and try again:", "vi": "Kiểm tra giá trị này rồi thử lại:"},
    "home": {"en": "Start", "vi": "Trang đầu"},
    "classes": {"en": "Classes", "vi": "Lớp học"},
    "no_classes": {"en": "No class you may see.", "vi": "Không có lớp nào bạn được xem."},
    "areas": {"en": "Schools and communes", "vi": "Trường và xã, phường"},
    "audit": {"en": "Audit", "vi": "Kiểm toán"},
    "ops": {"en": "Operations", "vi": "Vận hành"},
    "public": {"en": "Open data", "vi": "Dữ liệu mở"},
    "signed_in_as": {"en": "Signed in as", "vi": "Đăng nhập với"},
    "role": {"en": "Role", "vi": "Vai trò"},
    "org": {"en": "Organisation", "vi": "Tổ chức"},
    "framework": {"en": "Framework", "vi": "Khung năng lực"},
    "show": {"en": "Show", "vi": "Xem"},
    "roster": {"en": "Roster", "vi": "Danh sách lớp"},
    "name": {"en": "Name", "vi": "Họ tên"},
    "person": {"en": "Person", "vi": "Người học"},
    "persons": {"en": "Persons", "vi": "Số người"},
    "heatmap": {"en": "Competences by person", "vi": "Năng lực theo người học"},
    "legend": {"en": "Legend", "vi": "Chú giải"},
    "not_started": {"en": "not started", "vi": "chưa bắt đầu"},
    "in_progress": {"en": "in progress", "vi": "đang học"},
    "achieved": {"en": "achieved", "vi": "đạt"},
    "level": {"en": "level", "vi": "mức"},
    "inactive": {"en": "Inactive for {days} days or more", "vi": "Không hoạt động từ {days} ngày trở lên"},
    "last_active": {"en": "Last active", "vi": "Hoạt động gần nhất"},
    "never": {"en": "never", "vi": "chưa bao giờ"},
    "nobody": {"en": "Nobody.", "vi": "Không có ai."},
    "days": {"en": "Days", "vi": "Số ngày"},
    "quiz": {"en": "Quiz item analysis", "vi": "Phân tích câu hỏi"},
    "question": {"en": "Question", "vi": "Câu hỏi"},
    "attempts": {"en": "Attempts", "vi": "Lượt trả lời"},
    "correct": {"en": "Share correct", "vi": "Tỉ lệ đúng"},
    "no_quiz": {
        "en": "No statement of this class answers a question with an interaction definition.",
        "vi": "Chưa có câu trả lời nào của lớp cho câu hỏi có định nghĩa tương tác.",
    },
    "timeline": {"en": "Timeline", "vi": "Dòng thời gian"},
    "when": {"en": "When", "vi": "Thời điểm"},
    "verb": {"en": "Verb", "vi": "Hành động"},
    "activity": {"en": "Activity", "vi": "Hoạt động"},
    "result": {"en": "Result", "vi": "Kết quả"},
    "evidence": {"en": "Evidence for", "vi": "Minh chứng cho"},
    "voided": {"en": "voided", "vi": "đã hủy"},
    "next_steps": {"en": "Next steps", "vi": "Bước tiếp theo"},
    "target": {"en": "Target level", "vi": "Mức mục tiêu"},
    "no_next": {"en": "Nothing to recommend.", "vi": "Không có đề xuất."},
    "competence": {"en": "Competence", "vi": "Năng lực"},
    "by": {"en": "Group by", "vi": "Nhóm theo"},
    "by_org": {"en": "school or organisation", "vi": "trường hoặc tổ chức"},
    "by_commune": {"en": "commune or ward", "vi": "xã, phường"},
    "by_target_group": {"en": "target group", "vi": "nhóm đối tượng"},
    "by_class": {"en": "class", "vi": "lớp"},
    "unknown": {"en": "(unknown)", "vi": "(chưa rõ)"},
    "confirmed": {"en": "Confirmed", "vi": "Đã xác nhận"},
    "suppressed": {
        "en": "• withheld: fewer than {minimum} persons, or would reveal such a count",
        "vi": "• không công bố: dưới {minimum} người, hoặc sẽ làm lộ một số như vậy",
    },
    "trend": {"en": "Trend against target", "vi": "Xu hướng so với mục tiêu"},
    "months": {"en": "Months", "vi": "Số tháng"},
    "month": {"en": "Month end", "vi": "Cuối tháng"},
    "share": {"en": "Share", "vi": "Tỉ lệ"},
    "history": {"en": "History of a person", "vi": "Lịch sử của một người học"},
    "person_id": {"en": "Person id or learner key", "vi": "Mã người học hoặc khóa người học"},
    "since": {"en": "Since", "vi": "Từ ngày"},
    "until": {"en": "Until", "vi": "Đến ngày"},
    "export_csv": {"en": "Export CSV", "vi": "Xuất CSV"},
    "export_jsonl": {"en": "Export JSON lines", "vi": "Xuất JSON lines"},
    "access_log": {"en": "Access log", "vi": "Nhật ký truy cập"},
    "chain_ok": {
        "en": "Verified: {count} entries, hash chain intact.",
        "vi": "Đã kiểm tra: {count} mục, chuỗi băm nguyên vẹn.",
    },
    "chain_broken": {"en": "Chain broken:", "vi": "Chuỗi bị hỏng:"},
    "recent_entries": {"en": "Latest entries", "vi": "Các mục gần nhất"},
    "figure": {"en": "Figure", "vi": "Chỉ số"},
    "value": {"en": "Value", "vi": "Giá trị"},
    "public_intro": {
        "en": "Aggregate figures of the province's digital-skills programme. Small groups are withheld so that no person can be found.",
        "vi": "Số liệu tổng hợp của chương trình kỹ năng số của tỉnh. Các nhóm nhỏ không được công bố để không ai bị nhận diện.",
    },
    "download": {"en": "Download", "vi": "Tải về"},
    "licence": {"en": "Licence", "vi": "Giấy phép"},
    "dictionary": {"en": "Data dictionary", "vi": "Từ điển dữ liệu"},
    "rounded": {"en": "Counts rounded to a multiple of {base}.", "vi": "Số liệu làm tròn đến bội số của {base}."},
    "language": {"en": "Tiếng Việt", "vi": "English"},
    "total": {"en": "Total", "vi": "Tổng"},
}


def choose(request: Request) -> str:
    chosen = request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return "vi"


def translator(language: str) -> dict[str, str]:
    return {key: texts[language] for key, texts in MESSAGES.items()}
