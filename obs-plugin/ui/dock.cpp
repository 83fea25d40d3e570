// Deckcast targets dock: a thin Qt view over the Rust core.
//
// The widget lives on OBS's UI thread and owns no state beyond what it shows. While it is visible
// it asks the Rust core (deckcast_ui_request, the same requests as the obs-websocket vendor API)
// for the target list and health every second; every button sends a request and shows the
// answer's error message, if any. Requests may wait for the targets worker (a keyring prompt, a
// busy worker), so they run on the dock's own request thread, one at a time and in order, and
// their answers come back to the UI thread as queued calls: OBS's UI never waits for them.
// All strings come from the plugin's locale files (deckcast_ui_text). No OBS headers are needed:
// the Rust side registers the widget with the frontend.
#include <QCheckBox>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDockWidget>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QHideEvent>
#include <QShowEvent>
#include <QSpinBox>
#include <QTableWidget>
#include <QThreadPool>
#include <QTimer>
#include <QVBoxLayout>
#include <QWidget>

#include <functional>

extern "C" {
char *deckcast_ui_request(const char *kind, const char *json);
void deckcast_ui_free(char *s);
const char *deckcast_ui_text(const char *key);
}

namespace {

QString T(const char *key)
{
	return QString::fromUtf8(deckcast_ui_text(key));
}

// Sends a request to the Rust core and returns the answer object (request thread only: it may
// wait for the targets worker).
QJsonObject request(const char *kind, const QJsonObject &data)
{
	QByteArray json = QJsonDocument(data).toJson(QJsonDocument::Compact);
	char *answer = deckcast_ui_request(kind, json.constData());
	if (!answer)
		return QJsonObject{{"error", QJsonObject{{"code", "internal"}, {"message", "no answer"}}}};
	QJsonObject obj = QJsonDocument::fromJson(QByteArray(answer)).object();
	deckcast_ui_free(answer);
	return obj;
}

// Shows the answer's error, if any; returns true when the request succeeded.
bool check(QWidget *parent, const QJsonObject &answer)
{
	if (!answer.contains("error"))
		return true;
	QMessageBox::warning(parent, T("Deckcast.Dock.Title"), answer["error"].toObject()["message"].toString());
	return false;
}

const char *PLATFORMS[] = {"twitch", "youtube", "facebook", "tiktok", "kick", "custom"};

class TargetDialog : public QDialog {
public:
	TargetDialog(QWidget *parent, const QJsonObject &target, const QJsonObject &encoder) : QDialog(parent)
	{
		editing = !target.isEmpty();
		setWindowTitle(editing ? T("Deckcast.Dock.EditTarget") : T("Deckcast.Dock.AddTarget"));
		auto *form = new QFormLayout;
		name = new QLineEdit(target["name"].toString());
		platform = new QComboBox;
		for (const char *p : PLATFORMS)
			platform->addItem(T((QByteArray("Deckcast.Platform.") + p).constData()), QString(p));
		platform->setCurrentIndex(platform->findData(target["platform"].toString("custom")));
		server = new QLineEdit(target["server"].toString());
		server->setPlaceholderText(T("Deckcast.Dock.ServerPlaceholder"));
		key = new QLineEdit;
		key->setEchoMode(QLineEdit::Password);
		key->setPlaceholderText(editing && target["hasKey"].toBool() ? T("Deckcast.Dock.KeyUnchanged")
									   : T("Deckcast.Dock.KeyPlaceholder"));
		enabled = new QCheckBox(T("Deckcast.Dock.Enabled"));
		enabled->setChecked(target["enabled"].toBool(true));
		syncStart = new QCheckBox(T("Deckcast.Dock.SyncStart"));
		syncStart->setChecked(target["syncStart"].toBool(false));
		syncStop = new QCheckBox(T("Deckcast.Dock.SyncStop"));
		syncStop->setChecked(target["syncStop"].toBool(false));
		mode = new QComboBox;
		mode->addItem(T("Deckcast.Dock.EncoderShared"), QString("shared"));
		mode->addItem(T("Deckcast.Dock.EncoderDedicated"), QString("dedicated"));
		QJsonObject enc = target["encoder"].toObject();
		mode->setCurrentIndex(enc["mode"].toString("shared") == "dedicated" ? 1 : 0);
		configId = enc["configId"].toString();
		bitrate = new QSpinBox;
		bitrate->setRange(100, 100000);
		bitrate->setValue(encoder["bitrateKbps"].toInt(2500));
		bitrate->setSuffix(" kbps");
		width = new QSpinBox;
		width->setRange(0, 7680);
		width->setValue(encoder["width"].toInt(0));
		height = new QSpinBox;
		height->setRange(0, 4320);
		height->setValue(encoder["height"].toInt(0));
		form->addRow(T("Deckcast.Dock.Name"), name);
		form->addRow(T("Deckcast.Dock.Platform"), platform);
		form->addRow(T("Deckcast.Dock.Server"), server);
		form->addRow(T("Deckcast.Dock.Key"), key);
		form->addRow(enabled);
		form->addRow(syncStart);
		form->addRow(syncStop);
		form->addRow(T("Deckcast.Dock.Encoder"), mode);
		form->addRow(T("Deckcast.Dock.Bitrate"), bitrate);
		form->addRow(T("Deckcast.Dock.Width"), width);
		form->addRow(T("Deckcast.Dock.Height"), height);
		auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
		connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
		connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
		auto *layout = new QVBoxLayout(this);
		layout->addLayout(form);
		layout->addWidget(buttons);
		auto dedicatedVisible = [this]() {
			bool on = mode->currentData().toString() == "dedicated";
			bitrate->setEnabled(on);
			width->setEnabled(on);
			height->setEnabled(on);
		};
		connect(mode, &QComboBox::currentIndexChanged, this, dedicatedVisible);
		dedicatedVisible();
	}

	// The request fields from the form (key only when typed).
	QJsonObject fields() const
	{
		QJsonObject o{{"name", name->text()},
			      {"platform", platform->currentData().toString()},
			      {"enabled", enabled->isChecked()},
			      {"syncStart", syncStart->isChecked()},
			      {"syncStop", syncStop->isChecked()}};
		if (!server->text().trimmed().isEmpty())
			o["server"] = server->text().trimmed();
		if (!key->text().isEmpty())
			o["key"] = key->text();
		return o;
	}

	QJsonObject encoderConfig() const
	{
		QJsonObject c{{"bitrateKbps", bitrate->value()}};
		if (width->value() > 0 && height->value() > 0) {
			c["width"] = width->value();
			c["height"] = height->value();
		}
		return c;
	}

	bool dedicated() const { return mode->currentData().toString() == "dedicated"; }
	bool editing;
	QString configId;

private:
	QLineEdit *name, *server, *key;
	QComboBox *platform, *mode;
	QCheckBox *enabled, *syncStart, *syncStop;
	QSpinBox *bitrate, *width, *height;
};

class TargetsDock : public QWidget {
public:
	TargetsDock()
	{
		setObjectName("DeckcastTargetsDock");
		table = new QTableWidget(0, 6);
		table->setHorizontalHeaderLabels({T("Deckcast.Dock.Name"), T("Deckcast.Dock.State"), T("Deckcast.Dock.Kbps"),
						  T("Deckcast.Dock.Fps"), T("Deckcast.Dock.Dropped"), T("Deckcast.Dock.Uptime")});
		table->setSelectionBehavior(QAbstractItemView::SelectRows);
		table->setSelectionMode(QAbstractItemView::SingleSelection);
		table->setEditTriggers(QAbstractItemView::NoEditTriggers);
		table->verticalHeader()->setVisible(false);
		table->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
		status = new QLabel;
		status->setWordWrap(true);
		// The companion's active alerts: hidden while there are none (or the list is stale).
		alerts = new QLabel;
		alerts->setObjectName("DeckcastAlerts");
		alerts->setWordWrap(true);
		alerts->setTextFormat(Qt::PlainText);
		alerts->setStyleSheet("QLabel#DeckcastAlerts { background: #b03a2e; color: #ffffff; padding: 6px; }");
		alerts->hide();

		auto *row1 = new QHBoxLayout;
		auto *row2 = new QHBoxLayout;
		addButton(row1, "Deckcast.Dock.Start", [this]() { onSelected("StartTarget"); });
		addButton(row1, "Deckcast.Dock.Stop", [this]() { onSelected("StopTarget"); });
		addButton(row1, "Deckcast.Dock.StartAll", [this]() { send("StartAllTargets", {}); });
		addButton(row1, "Deckcast.Dock.StopAll", [this]() { send("StopAllTargets", {}); });
		addButton(row2, "Deckcast.Dock.Add", [this]() { edit(QString()); });
		addButton(row2, "Deckcast.Dock.Edit", [this]() {
			if (!selected().isEmpty())
				edit(selected());
		});
		addButton(row2, "Deckcast.Dock.Delete", [this]() {
			QString id = selected();
			if (id.isEmpty())
				return;
			if (QMessageBox::question(this, T("Deckcast.Dock.Title"), T("Deckcast.Dock.ConfirmDelete")) ==
			    QMessageBox::Yes)
				send("DeleteTarget", {{"id", id}});
		});

		// OBS's own recording as a set recording: the button starts it (marked as the dock's, so
		// the companion's library knows it is Deckcast's) or stops whatever records.
		record = new QPushButton;
		record->setObjectName("DeckcastRecord");
		// Disabled until OBS answered, so a second click cannot ask again before the state shows.
		connect(record, &QPushButton::clicked, this, [this]() {
			record->setEnabled(false);
			QByteArray kind(recordingActive ? "StopRecording" : "StartRecording");
			QJsonObject data = recordingActive ? QJsonObject{} : QJsonObject{{"from", "dock"}};
			later([kind, data]() { return request(kind.constData(), data); },
			      [this](const QJsonObject &answer) {
				      check(this, answer);
				      record->setEnabled(true);
				      refresh();
			      });
		});
		recording = new QLabel;
		recording->setTextFormat(Qt::PlainText);
		auto *recordRow = new QHBoxLayout;
		recordRow->addWidget(record);
		recordRow->addWidget(recording, 1);
		showRecording(QJsonObject{{"active", false}});

		auto *layout = new QVBoxLayout(this);
		layout->addWidget(alerts);
		layout->addLayout(recordRow);
		layout->addWidget(table);
		layout->addLayout(row1);
		layout->addLayout(row2);
		layout->addWidget(status);

		// One request thread: requests run in the order the user made them.
		pool.setMaxThreadCount(1);
		timer = new QTimer(this);
		connect(timer, &QTimer::timeout, this, [this]() { refresh(); });
	}

	~TargetsDock() override
	{
		// Answers are delivered to this widget: let running requests finish first (a request
		// waits at most the plugin's worker timeout; after OBS's exit event none waits at all).
		timer->stop();
		pool.clear();
		pool.waitForDone();
	}

protected:
	// Polls only while the dock can be seen.
	void showEvent(QShowEvent *event) override
	{
		QWidget::showEvent(event);
		timer->start(1000);
		// After the events of this round: OBS shows docks briefly while it restores its layout.
		QTimer::singleShot(0, this, [this]() { refresh(); });
	}

	void hideEvent(QHideEvent *event) override
	{
		QWidget::hideEvent(event);
		timer->stop();
	}

private:
	// Runs `work` on the request thread, then `done` with its answer on the UI thread.
	void later(std::function<QJsonObject()> work, std::function<void(const QJsonObject &)> done)
	{
		pool.start([this, work, done]() {
			QJsonObject answer = work();
			// Queued to this widget: runs on the UI thread; the destructor waits for this job,
			// and Qt drops calls queued to a deleted object.
			QMetaObject::invokeMethod(this, [done, answer]() { done(answer); }, Qt::QueuedConnection);
		});
	}

	// Sends one request and shows its error, if any, then refreshes.
	void send(const char *kind, const QJsonObject &data)
	{
		QByteArray k(kind);
		later([k, data]() { return request(k.constData(), data); },
		      [this](const QJsonObject &answer) {
			      check(this, answer);
			      refresh();
		      });
	}

	template<typename F> void addButton(QHBoxLayout *row, const char *key, F f)
	{
		auto *b = new QPushButton(T(key));
		b->setObjectName(QString(key).replace('.', '_'));
		connect(b, &QPushButton::clicked, this, f);
		row->addWidget(b);
	}

	QString selected() const
	{
		auto items = table->selectedItems();
		return items.isEmpty() ? QString() : items.first()->data(Qt::UserRole).toString();
	}

	void onSelected(const char *kind)
	{
		QString id = selected();
		if (!id.isEmpty())
			send(kind, {{"id", id}});
	}

	void edit(const QString &id)
	{
		// The list shown last (a refresh at most a second old).
		const QJsonObject &list = lastList;
		QJsonObject target, encoder;
		for (const auto &t : list["targets"].toArray())
			if (t.toObject()["id"].toString() == id)
				target = t.toObject();
		QString cfg = target["encoder"].toObject()["configId"].toString();
		for (const auto &e : list["encoders"].toArray())
			if (e.toObject()["id"].toString() == cfg)
				encoder = e.toObject();
		TargetDialog dialog(this, target, encoder);
		if (dialog.exec() != QDialog::Accepted)
			return;
		QJsonObject req = dialog.fields();
		if (!dialog.editing) {
			req["encoder"] = dialog.dedicated() ? QJsonObject{{"mode", "dedicated"}, {"config", dialog.encoderConfig()}}
							    : QJsonObject{{"mode", "shared"}};
			send("CreateTarget", req);
			return;
		}
		req["id"] = id;
		QJsonObject config;
		if (dialog.dedicated() && !dialog.configId.isEmpty())
			config = QJsonObject{{"id", dialog.configId}, {"config", dialog.encoderConfig()}};
		else if (dialog.dedicated())
			req["encoder"] = QJsonObject{{"mode", "dedicated"}, {"config", dialog.encoderConfig()}};
		else
			req["encoder"] = QJsonObject{{"mode", "shared"}};
		// The encoder config first; the target only if that worked.
		later(
			[config, req]() {
				if (!config.isEmpty()) {
					QJsonObject answer = request("UpdateEncoderConfig", config);
					if (answer.contains("error"))
						return answer;
				}
				return request("UpdateTarget", req);
			},
			[this](const QJsonObject &answer) {
				check(this, answer);
				refresh();
			});
	}

	// Asks for the list and health (unless a refresh is still on its way) and shows them.
	void refresh()
	{
		if (refreshing || !isVisible())
			return;
		refreshing = true;
		later(
			[]() {
				return QJsonObject{{"list", request("ListTargets", {})},
						   {"health", request("GetTargetHealth", {})},
						   {"alerts", request("GetAlerts", {})},
						   {"recording", request("GetRecording", {})}};
			},
			[this](const QJsonObject &answer) {
				refreshing = false;
				display(answer["list"].toObject(), answer["health"].toObject());
				showAlerts(answer["alerts"].toObject());
				showRecording(answer["recording"].toObject());
			});
	}

	// The record button says what a click does; beside it, what is being written. Crimson while
	// idle (a record button), dark red while recording: neither blends into the alert banner's
	// red (#b03a2e) at its edges, which the alert tests look for.
	void showRecording(const QJsonObject &now)
	{
		if (now.contains("error"))
			return;
		recordingActive = now["active"].toBool();
		record->setText(recordingActive ? T("Deckcast.Dock.StopRecording") : T("Deckcast.Dock.Record"));
		record->setStyleSheet(recordingActive
					      ? "QPushButton#DeckcastRecord { background: #7b241c; color: #ffffff; padding: 4px 12px; }"
					      : "QPushButton#DeckcastRecord { background: #c81e3c; color: #ffffff; padding: 4px 12px; }");
		QString file = now["file"].toString();
		double mib = now["bytes"].toDouble() / (1024.0 * 1024.0);
		recording->setText(!recordingActive ? QString()
				   : file.isEmpty()
					   ? T("Deckcast.Dock.Recording").arg(QString::number(mib, 'f', 1))
					   : T("Deckcast.Dock.RecordingTo")
						     .arg(file.section('/', -1), QString::number(mib, 'f', 1)));
	}

	// One line per alert, most severe first: "Dead air: the program audio has been below ...".
	void showAlerts(const QJsonObject &view)
	{
		QStringList lines;
		for (const char *severity : {"critical", "warning"}) {
			for (const auto &v : view["alerts"].toArray()) {
				QJsonObject a = v.toObject();
				if (a["severity"].toString() != severity)
					continue;
				QString line = T("Deckcast.Dock.AlertLine").arg(a["title"].toString(), a["message"].toString());
				if (a["acknowledged"].toBool())
					line = T("Deckcast.Dock.AlertAcknowledged").arg(line);
				lines << line;
			}
		}
		alerts->setText(lines.join("\n"));
		alerts->setVisible(!lines.isEmpty());
	}

	void display(const QJsonObject &list, const QJsonObject &health)
	{
		if (list.contains("error")) {
			// Keep the last picture; say why it is not current.
			status->setText(list["error"].toObject()["message"].toString());
			return;
		}
		lastList = list;
		QHash<QString, QJsonObject> byId;
		for (const auto &h : health["targets"].toArray())
			byId.insert(h.toObject()["id"].toString(), h.toObject());
		QString keep = selected();
		QJsonArray targets = list["targets"].toArray();
		table->setRowCount(targets.size());
		for (int row = 0; row < targets.size(); row++) {
			QJsonObject t = targets[row].toObject();
			QJsonObject h = byId.value(t["id"].toString());
			QString state = T((QByteArray("Deckcast.State.") + t["state"].toString().toUtf8()).constData());
			int up = h["uptimeSec"].toDouble();
			QStringList cells = {t["name"].toString(), state,
					     QString::number(h["kbps"].toDouble(), 'f', 0),
					     QString::number(h["fps"].toDouble(), 'f', 1),
					     QString::number(h["droppedFrames"].toInt()),
					     QString("%1:%2:%3").arg(up / 3600).arg(up / 60 % 60, 2, 10, QChar('0')).arg(up % 60, 2, 10, QChar('0'))};
			for (int col = 0; col < cells.size(); col++) {
				auto *item = table->item(row, col);
				if (!item) {
					item = new QTableWidgetItem;
					table->setItem(row, col, item);
				}
				item->setText(cells[col]);
				item->setData(Qt::UserRole, t["id"].toString());
				QStringList tip;
				for (const char *k : {"lastError", "serverWarning"})
					if (!t[k].toString().isEmpty())
						tip << t[k].toString();
				item->setToolTip(tip.join("\n"));
			}
			if (t["id"].toString() == keep)
				table->selectRow(row);
		}
		status->setText(list["keyStorage"].toString() == "memory" ? T("Deckcast.Dock.KeysInMemory") : QString());
	}

	QTableWidget *table;
	QLabel *status;
	QLabel *alerts;
	QPushButton *record;
	QLabel *recording;
	bool recordingActive = false;
	QTimer *timer;
	QThreadPool pool;
	QJsonObject lastList;
	bool refreshing = false;
};

} // namespace

extern "C" void *deckcast_dock_new(void)
{
	return static_cast<QWidget *>(new TargetsDock);
}

// Shows the dock OBS created around our widget as a floating window (used for kiosk/headless runs).
extern "C" void deckcast_dock_show(void *widget)
{
	auto *w = static_cast<QWidget *>(widget);
	QTimer::singleShot(500, w, [w]() {
		if (auto *dock = qobject_cast<QDockWidget *>(w->parentWidget())) {
			dock->setFloating(true);
			dock->resize(640, 360);
			dock->move(0, 0);
			dock->show();
			dock->raise();
		}
	});
}
