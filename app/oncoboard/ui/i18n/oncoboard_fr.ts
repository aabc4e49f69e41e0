<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="fr">
  <context>
    <name>BoardDialogs</name>
    <message>
      <source>Key image (Key Object Selection)</source>
      <translation>Image clé (Key Object Selection)</translation>
    </message>
    <message>
      <source>New tumour-board meeting</source>
      <translation>Nouvelle réunion de concertation (RCP)</translation>
    </message>
    <message>
      <source>e.g. Thoracic oncology board</source>
      <translation>ex. RCP d’oncologie thoracique</translation>
    </message>
    <message>
      <source>One per line: Dr Martin (oncologist)</source>
      <translation>Un par ligne : Dr Martin (oncologue)</translation>
    </message>
    <message>
      <source>Add a case</source>
      <translation>Ajouter un dossier</translation>
    </message>
    <message>
      <source>What is the board asked to decide?</source>
      <translation>Quelle question est posée à la RCP ?</translation>
    </message>
    <message>
      <source>Patient</source>
      <translation>Patient</translation>
    </message>
    <message>
      <source>Question</source>
      <translation>Question</translation>
    </message>
    <message>
      <source>Presenter</source>
      <translation>Présentateur</translation>
    </message>
    <message>
      <source>Options discussed, one per line</source>
      <translation>Options discutées, une par ligne</translation>
    </message>
    <message>
      <source>The decision departs from a model's result</source>
      <translation>La décision s’écarte du résultat d’un modèle</translation>
    </message>
    <message>
      <source>Why the board departs from the model</source>
      <translation>Pourquoi la RCP s’écarte du modèle</translation>
    </message>
    <message>
      <source>Why the decision is amended</source>
      <translation>Pourquoi la décision est modifiée</translation>
    </message>
    <message>
      <source>Reload</source>
      <translation>Recharger</translation>
    </message>
    <message>
      <source>Show the decision saved elsewhere (your text is replaced)</source>
      <translation>Afficher la décision enregistrée ailleurs (votre texte est remplacé)</translation>
    </message>
    <message>
      <source>Send what is missing</source>
      <translation>Envoyer ce qui manque</translation>
    </message>
    <message>
      <source>sent</source>
      <translation>envoyé</translation>
    </message>
    <message>
      <source>not sent</source>
      <translation>non envoyé</translation>
    </message>
    <message>
      <source>not sent yet</source>
      <translation>pas encore envoyé</translation>
    </message>
    <message>
      <source>Date</source>
      <translation>Date</translation>
    </message>
    <message>
      <source>Specialty</source>
      <translation>Spécialité</translation>
    </message>
    <message>
      <source>Title</source>
      <translation>Titre</translation>
    </message>
    <message>
      <source>Location</source>
      <translation>Lieu</translation>
    </message>
    <message>
      <source>Attendees</source>
      <translation>Participants</translation>
    </message>
    <message>
      <source>No model result is stored for this patient.</source>
      <translation>Aucun résultat de modèle enregistré pour ce patient.</translation>
    </message>
    <message>
      <source>Options discussed</source>
      <translation>Options discutées</translation>
    </message>
    <message>
      <source>Chosen plan</source>
      <translation>Proposition retenue</translation>
    </message>
    <message>
      <source>Rationale</source>
      <translation>Justification</translation>
    </message>
    <message>
      <source>Reason</source>
      <translation>Motif</translation>
    </message>
    <message>
      <source>Amendment reason</source>
      <translation>Motif de la modification</translation>
    </message>
    <message>
      <source>This decision was changed by {user} at {time} (version {v}: {plan}).</source>
      <translation>Cette décision a été modifiée par {user} le {time} (version {v} : {plan}).</translation>
    </message>
    <message>
      <source>Board report PDF (decision {version})</source>
      <translation>Compte rendu RCP en PDF (décision {version})</translation>
    </message>
    <message>
      <source>Model result SR ({id})</source>
      <translation>SR du résultat de modèle ({id})</translation>
    </message>
    <message>
      <source>Lesion measurements of {date} (TID 1500 SR)</source>
      <translation>Mesures des lésions du {date} (SR TID 1500)</translation>
    </message>
    <message>
      <source>Item</source>
      <translation>Élément</translation>
    </message>
    <message>
      <source>Status</source>
      <translation>État</translation>
    </message>
    <message>
      <source>Node</source>
      <translation>Nœud</translation>
    </message>
    <message>
      <source>When</source>
      <translation>Quand</translation>
    </message>
    <message>
      <source>By</source>
      <translation>Par</translation>
    </message>
    <message>
      <source>PACS node</source>
      <translation>Nœud PACS</translation>
    </message>
    <message>
      <source>No PACS node is configured: add one in Settings.</source>
      <translation>Aucun nœud PACS n’est configuré : ajoutez-en un dans les Paramètres.</translation>
    </message>
    <message>
      <source>{sent} sent, {already} already there, {failed} not sent</source>
      <translation>{sent} envoyé(s), {already} déjà présent(s), {failed} non envoyé(s)</translation>
    </message>
    <message>
      <source>Tumour board</source>
      <translation>RCP</translation>
    </message>
    <message>
      <source>Board decision for {p}</source>
      <translation>Décision de la RCP pour {p}</translation>
    </message>
    <message>
      <source>Your text is kept: Reload shows theirs.</source>
      <translation>Votre texte est conservé : Recharger affiche la leur.</translation>
    </message>
    <message>
      <source>It is shown below.</source>
      <translation>Elle est affichée ci-dessous.</translation>
    </message>
    <message>
      <source>Current decision (version {v}, by {user} at {time}): {plan}</source>
      <translation>Décision actuelle (version {v}, par {user} le {time}) : {plan}</translation>
    </message>
    <message>
      <source>Sending to {node}</source>
      <translation>Envoi vers {node}</translation>
    </message>
    <message>
      <source>Send to PACS: {patient}</source>
      <translation>Envoyer au PACS : {patient}</translation>
    </message>
    <message>
      <source>Sending to {node}…</source>
      <translation>Envoi vers {node}…</translation>
    </message>
    <message>
      <source>Model results shown: {s}</source>
      <translation>Résultats de modèles présentés : {s}</translation>
    </message>
  </context>
  <context>
    <name>BoardView</name>
    <message>
      <source>Meeting {m} was changed by {user} at {time}: reloaded.</source>
      <translation>La réunion {m} a été modifiée par {user} le {time} : rechargée.</translation>
    </message>
    <message>
      <source>Patient {p}: {what} changed by {user} at {time}: reloaded.</source>
      <translation>Patient {p} : modification ({what}) par {user} le {time} : rechargé.</translation>
    </message>
    <message>
      <source>No cases yet: add one.</source>
      <translation>Aucun dossier : ajoutez-en un.</translation>
    </message>
    <message>
      <source>Exporting</source>
      <translation>Export en cours</translation>
    </message>
    <message>
      <source>predictions</source>
      <translation>prédictions</translation>
    </message>
    <message>
      <source>measurements</source>
      <translation>mesures</translation>
    </message>
    <message>
      <source>images</source>
      <translation>images</translation>
    </message>
    <message>
      <source>record</source>
      <translation>dossier</translation>
    </message>
    <message>
      <source>decision</source>
      <translation>décision</translation>
    </message>
    <message>
      <source>Oncoboard — presenter</source>
      <translation>Oncoboard — présentation</translation>
    </message>
    <message>
      <source>← previous   → next   D decision   Esc leave</source>
      <translation>← précédent   → suivant   D décision   Échap quitter</translation>
    </message>
    <message>
      <source>No decision recorded yet (press D).</source>
      <translation>Aucune décision enregistrée (touche D).</translation>
    </message>
    <message>
      <source>SYNTHETIC - DEMONSTRATION ONLY</source>
      <translation>SYNTHÉTIQUE - DÉMONSTRATION UNIQUEMENT</translation>
    </message>
    <message>
      <source>y</source>
      <translation>ans</translation>
    </message>
    <message>
      <source>Case</source>
      <translation>Dossier</translation>
    </message>
    <message>
      <source>Decision</source>
      <translation>Décision</translation>
    </message>
    <message>
      <source>Rationale</source>
      <translation>Justification</translation>
    </message>
    <message>
      <source>This meeting has no cases.</source>
      <translation>Cette réunion n’a aucun dossier.</translation>
    </message>
    <message>
      <source>Departs from model</source>
      <translation>S’écarte du modèle</translation>
    </message>
    <message>
      <source>Predictions</source>
      <translation>Prédictions</translation>
    </message>
    <message>
      <source>Preparing the presentation</source>
      <translation>Préparation de la présentation</translation>
    </message>
    <message>
      <source>Exporting the report</source>
      <translation>Export du compte rendu</translation>
    </message>
    <message>
      <source>Meetings</source>
      <translation>Réunions</translation>
    </message>
    <message>
      <source>New meeting…</source>
      <translation>Nouvelle réunion…</translation>
    </message>
    <message>
      <source>Agenda</source>
      <translation>Ordre du jour</translation>
    </message>
    <message>
      <source>Add case…</source>
      <translation>Ajouter un dossier…</translation>
    </message>
    <message>
      <source>Record decision…</source>
      <translation>Enregistrer la décision…</translation>
    </message>
    <message>
      <source>Present</source>
      <translation>Présenter</translation>
    </message>
    <message>
      <source>Export PDF…</source>
      <translation>Exporter en PDF…</translation>
    </message>
    <message>
      <source>Export JSON…</source>
      <translation>Exporter en JSON…</translation>
    </message>
    <message>
      <source>Send to PACS…</source>
      <translation>Envoyer au PACS…</translation>
    </message>
    <message>
      <source>Tumour board</source>
      <translation>RCP</translation>
    </message>
    <message>
      <source>PDF report (*.pdf)</source>
      <translation>Compte rendu PDF (*.pdf)</translation>
    </message>
    <message>
      <source>JSON (*.json)</source>
      <translation>JSON (*.json)</translation>
    </message>
    <message>
      <source>Export the meeting</source>
      <translation>Exporter la réunion</translation>
    </message>
    <message>
      <source>Decision recorded: the meeting is now marked as held.</source>
      <translation>Décision enregistrée : la réunion est désormais marquée comme tenue.</translation>
    </message>
    <message>
      <source>Not saved: {reason}. The other change is shown.</source>
      <translation>Non enregistré : {reason}. L’autre modification est affichée.</translation>
    </message>
    <message>
      <source>planned</source>
      <translation>prévue</translation>
    </message>
    <message>
      <source>held</source>
      <translation>tenue</translation>
    </message>
    <message>
      <source>closed</source>
      <translation>close</translation>
    </message>
  </context>
  <context>
    <name>CalculatorDialog</name>
    <message>
      <source>Calculator</source>
      <translation>Calculatrice</translation>
    </message>
    <message>
      <source>Calculate</source>
      <translation>Calculer</translation>
    </message>
    <message>
      <source>Values are checked as record values are; nothing is stored.</source>
      <translation>Les valeurs sont contrôlées comme celles du dossier ; rien n’est enregistré.</translation>
    </message>
    <message>
      <source>(missing)</source>
      <translation>(manquant)</translation>
    </message>
    <message>
      <source>default {d}</source>
      <translation>défaut {d}</translation>
    </message>
  </context>
  <context>
    <name>ComparisonView</name>
    <message>
      <source>No comparison open</source>
      <translation>Aucune comparaison ouverte</translation>
    </message>
    <message>
      <source>2 × 2 MPR</source>
      <translation>2 × 2 MPR</translation>
    </message>
    <message>
      <source>Linked</source>
      <translation>Liées</translation>
    </message>
    <message>
      <source>Register</source>
      <translation>Recaler</translation>
    </message>
    <message>
      <source>Adjust offset</source>
      <translation>Ajuster le décalage</translation>
    </message>
    <message>
      <source>Reset offset</source>
      <translation>Annuler le décalage</translation>
    </message>
    <message>
      <source>Loading…</source>
      <translation>Chargement…</translation>
    </message>
    <message>
      <source>Cancel registration</source>
      <translation>Annuler le recalage</translation>
    </message>
    <message>
      <source>Registering the prior study…</source>
      <translation>Recalage de l'examen antérieur…</translation>
    </message>
    <message>
      <source>Window</source>
      <translation>Fenêtre</translation>
    </message>
    <message>
      <source>No images for this patient</source>
      <translation>Aucune image pour ce patient</translation>
    </message>
    <message>
      <source>No earlier study of the same kind to compare with</source>
      <translation>Aucun examen antérieur du même type à comparer</translation>
    </message>
    <message>
      <source>Loading the comparison</source>
      <translation>Chargement de la comparaison</translation>
    </message>
    <message>
      <source>Current</source>
      <translation>Actuel</translation>
    </message>
    <message>
      <source>Prior</source>
      <translation>Antérieur</translation>
    </message>
    <message>
      <source>Unlinked by the reader</source>
      <translation>Déliées par le lecteur</translation>
    </message>
    <message>
      <source>Choosing the prior study</source>
      <translation>Choix de l'examen antérieur</translation>
    </message>
    <message>
      <source>vs</source>
      <translation>vs</translation>
    </message>
    <message>
      <source>Registration cancelled: the panes are not linked</source>
      <translation>Recalage annulé : les vues ne sont pas liées</translation>
    </message>
    <message>
      <source>Registration failed: {e}</source>
      <translation>Échec du recalage : {e}</translation>
    </message>
  </context>
  <context>
    <name>ErrorBoundary</name>
    <message>
      <source>the log file</source>
      <translation>le journal</translation>
    </message>
    <message>
      <source>Oncoboard</source>
      <translation>Oncoboard</translation>
    </message>
    <message>
      <source>Internal error ({kind}). The details are in {where}.</source>
      <translation>Erreur interne ({kind}). Les détails sont dans {where}.</translation>
    </message>
  </context>
  <context>
    <name>ImportDialog</name>
    <message>
      <source>Add files…</source>
      <translation>Ajouter des fichiers…</translation>
    </message>
    <message>
      <source>Add folder…</source>
      <translation>Ajouter un dossier…</translation>
    </message>
    <message>
      <source>Import</source>
      <translation>Importer</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>Annuler</translation>
    </message>
    <message>
      <source>FHIR R4 bundles (.json) or CSV files in the documented layout.</source>
      <translation>Bundles FHIR R4 (.json) ou fichiers CSV au format documenté.</translation>
    </message>
    <message>
      <source>DICOM files, folders (searched recursively), zip files or DICOMDIR.</source>
      <translation>Fichiers DICOM, dossiers (parcourus récursivement), fichiers zip ou DICOMDIR.</translation>
    </message>
    <message>
      <source>Records (*.json *.csv)</source>
      <translation>Dossiers patients (*.json *.csv)</translation>
    </message>
    <message>
      <source>All files (*)</source>
      <translation>Tous les fichiers (*)</translation>
    </message>
    <message>
      <source>Choose files</source>
      <translation>Choisir des fichiers</translation>
    </message>
    <message>
      <source>Choose a folder</source>
      <translation>Choisir un dossier</translation>
    </message>
    <message>
      <source>Cancelled.</source>
      <translation>Annulé.</translation>
    </message>
    <message>
      <source>Done</source>
      <translation>Terminé</translation>
    </message>
    <message>
      <source>Query a PACS</source>
      <translation>Interroger un PACS</translation>
    </message>
    <message>
      <source>Test connection</source>
      <translation>Tester la connexion</translation>
    </message>
    <message>
      <source>Search</source>
      <translation>Rechercher</translation>
    </message>
    <message>
      <source>Retrieve selected</source>
      <translation>Récupérer la sélection</translation>
    </message>
    <message>
      <source>Series of the study</source>
      <translation>Séries de l'examen</translation>
    </message>
    <message>
      <source>View without importing</source>
      <translation>Afficher sans importer</translation>
    </message>
    <message>
      <source>Node</source>
      <translation>Nœud</translation>
    </message>
    <message>
      <source>Patient ID</source>
      <translation>IPP</translation>
    </message>
    <message>
      <source>Patient name</source>
      <translation>Nom du patient</translation>
    </message>
    <message>
      <source>Study date</source>
      <translation>Date de l’examen</translation>
    </message>
    <message>
      <source>Modality</source>
      <translation>Modalité</translation>
    </message>
    <message>
      <source>Retrieve by</source>
      <translation>Récupérer par</translation>
    </message>
    <message>
      <source>{n} images indexed in {s} series ({f} files seen)</source>
      <translation>{n} images indexées dans {s} séries ({f} fichiers lus)</translation>
    </message>
    <message>
      <source>skipped {p}: {why}</source>
      <translation>ignoré {p} : {why}</translation>
    </message>
    <message>
      <source>Import patient records</source>
      <translation>Importer des dossiers patients</translation>
    </message>
    <message>
      <source>Import DICOM images</source>
      <translation>Importer des images DICOM</translation>
    </message>
    <message>
      <source>Viewing without importing needs a DICOMweb node</source>
      <translation>L'affichage sans import nécessite un nœud DICOMweb</translation>
    </message>
    <message>
      <source>NOT IMPORTED: {m}</source>
      <translation>NON IMPORTÉ : {m}</translation>
    </message>
    <message>
      <source>No patient record for DICOM patient IDs: {ids}</source>
      <translation>Aucun dossier patient pour les identifiants DICOM : {ids}</translation>
    </message>
    <message>
      <source>No PACS node is configured: add one in Settings.</source>
      <translation>Aucun nœud PACS configuré : ajoutez-en un dans les Réglages.</translation>
    </message>
    <message>
      <source>{n} studies found</source>
      <translation>{n} examens trouvés</translation>
    </message>
    <message>
      <source>DICOM studies linked to their patients: {n}</source>
      <translation>Examens DICOM rattachés à leurs patients : {n}</translation>
    </message>
    <message>
      <source>{n} answered in {s:.2f} s</source>
      <translation>{n} a répondu en {s:.2f} s</translation>
    </message>
    <message>
      <source>{uid}: {n} files</source>
      <translation>{uid} : {n} fichiers</translation>
    </message>
    <message>
      <source>{uid}: cancelled</source>
      <translation>{uid} : annulé</translation>
    </message>
  </context>
  <context>
    <name>LesionPanel</name>
    <message>
      <source>Node</source>
      <translation>Ganglion</translation>
    </message>
    <message>
      <source>Propose</source>
      <translation>Proposer</translation>
    </message>
    <message>
      <source>Grow a region from the cursor and propose the long axis</source>
      <translation>Faire croître une région depuis le curseur et proposer le grand axe</translation>
    </message>
    <message>
      <source>Record lesion</source>
      <translation>Enregistrer la lésion</translation>
    </message>
    <message>
      <source>New lesion…</source>
      <translation>Nouvelle lésion…</translation>
    </message>
    <message>
      <source>short axis</source>
      <translation>petit axe</translation>
    </message>
    <message>
      <source>long axis</source>
      <translation>grand axe</translation>
    </message>
    <message>
      <source>Target</source>
      <translation>Cible</translation>
    </message>
    <message>
      <source>Non-target</source>
      <translation>Non cible</translation>
    </message>
    <message>
      <source>New lesion</source>
      <translation>Nouvelle lésion</translation>
    </message>
    <message>
      <source>site, e.g. lung RUL</source>
      <translation>site, ex. poumon LSD</translation>
    </message>
    <message>
      <source>Lesion</source>
      <translation>Lésion</translation>
    </message>
    <message>
      <source>previous</source>
      <translation>précédente</translation>
    </message>
    <message>
      <source>Draw a distance on the axial plane first</source>
      <translation>Tracez d'abord une distance sur le plan axial</translation>
    </message>
    <message>
      <source>This slice is still loading</source>
      <translation>Cette coupe est encore en cours de chargement</translation>
    </message>
    <message>
      <source>No lesion found at the cursor</source>
      <translation>Aucune lésion trouvée au curseur</translation>
    </message>
    <message>
      <source>The region reached its bounds: check the proposal</source>
      <translation>La région a atteint ses limites : vérifiez la proposition</translation>
    </message>
    <message>
      <source>Recording the lesion</source>
      <translation>Enregistrement de la lésion</translation>
    </message>
  </context>
  <context>
    <name>MainWindow</name>
    <message>
      <source>Cancel</source>
      <translation>Annuler</translation>
    </message>
    <message>
      <source>&amp;File</source>
      <translation>&amp;Fichier</translation>
    </message>
    <message>
      <source>Find patient…</source>
      <translation>Rechercher un patient…</translation>
    </message>
    <message>
      <source>Import patient records…</source>
      <translation>Importer des dossiers patients…</translation>
    </message>
    <message>
      <source>Import DICOM images…</source>
      <translation>Importer des images DICOM…</translation>
    </message>
    <message>
      <source>Query a PACS…</source>
      <translation>Interroger un PACS…</translation>
    </message>
    <message>
      <source>Settings…</source>
      <translation>Réglages…</translation>
    </message>
    <message>
      <source>Quit</source>
      <translation>Quitter</translation>
    </message>
    <message>
      <source>&amp;View</source>
      <translation>&amp;Affichage</translation>
    </message>
    <message>
      <source>&amp;Help</source>
      <translation>&amp;Aide</translation>
    </message>
    <message>
      <source>Validate a model on local patients…</source>
      <translation>Valider un modèle sur les patients locaux…</translation>
    </message>
    <message>
      <source>About and diagnostics…</source>
      <translation>À propos et diagnostic…</translation>
    </message>
    <message>
      <source>Patient {p}: {what} changed by {user} at {time}: updated.</source>
      <translation>Patient {p} : modification ({what}) par {user} le {time} : mis à jour.</translation>
    </message>
    <message>
      <source>The new data folder is used at the next start.</source>
      <translation>Le nouveau dossier de données sera utilisé au prochain démarrage.</translation>
    </message>
    <message>
      <source>Oncoboard {v}</source>
      <translation>Oncoboard {v}</translation>
    </message>
    <message>
      <source>Cancelled</source>
      <translation>Annulé</translation>
    </message>
    <message>
      <source>Opening patient {p}</source>
      <translation>Ouverture du patient {p}</translation>
    </message>
    <message>
      <source>Patients</source>
      <translation>Patients</translation>
    </message>
    <message>
      <source>Patient</source>
      <translation>Patient</translation>
    </message>
    <message>
      <source>Images</source>
      <translation>Imagerie</translation>
    </message>
    <message>
      <source>Predictions</source>
      <translation>Prédictions</translation>
    </message>
    <message>
      <source>Tumour board</source>
      <translation>RCP</translation>
    </message>
  </context>
  <context>
    <name>PatientBrowserView</name>
    <message>
      <source>Search patients by name, ID or diagnosis</source>
      <translation>Rechercher un patient par nom, IPP ou diagnostic</translation>
    </message>
    <message>
      <source>Search the notes (full text)</source>
      <translation>Rechercher dans les notes (texte intégral)</translation>
    </message>
    <message>
      <source>Type words to search every note.</source>
      <translation>Tapez des mots pour chercher dans toutes les notes.</translation>
    </message>
    <message>
      <source>Patients</source>
      <translation>Patients</translation>
    </message>
    <message>
      <source>Patient search</source>
      <translation>Recherche de patients</translation>
    </message>
    <message>
      <source>Note search</source>
      <translation>Recherche dans les notes</translation>
    </message>
    <message>
      <source>{n} notes match</source>
      <translation>{n} notes correspondent</translation>
    </message>
    <message>
      <source>{n}+ patients</source>
      <translation>{n}+ patients</translation>
    </message>
    <message>
      <source>{n} patients</source>
      <translation>{n} patients</translation>
    </message>
    <message>
      <source>ID</source>
      <translation>IPP</translation>
    </message>
    <message>
      <source>Name</source>
      <translation>Nom</translation>
    </message>
    <message>
      <source>Sex</source>
      <translation>Sexe</translation>
    </message>
    <message>
      <source>Age</source>
      <translation>Âge</translation>
    </message>
    <message>
      <source>Diagnosis</source>
      <translation>Diagnostic</translation>
    </message>
  </context>
  <context>
    <name>PatientView</name>
    <message>
      <source>none recorded</source>
      <translation>aucun enregistré</translation>
    </message>
    <message>
      <source>Synthetic patient - demonstration data</source>
      <translation>Patient synthétique - données de démonstration</translation>
    </message>
    <message>
      <source>Choose a patient in the patient list.</source>
      <translation>Choisissez un patient dans la liste.</translation>
    </message>
    <message>
      <source>Timeline</source>
      <translation>Chronologie</translation>
    </message>
    <message>
      <source>Laboratory trends</source>
      <translation>Évolution biologique</translation>
    </message>
    <message>
      <source>Notes</source>
      <translation>Notes</translation>
    </message>
    <message>
      <source>Tumour response (RECIST 1.1)</source>
      <translation>Réponse tumorale (RECIST 1.1)</translation>
    </message>
    <message>
      <source>Board decision (meeting {m}, version {v}, {user}, {time}): {plan}</source>
      <translation>Décision de la RCP (réunion {m}, version {v}, {user}, {time}) : {plan}</translation>
    </message>
    <message>
      <source>born</source>
      <translation>né(e) le</translation>
    </message>
    <message>
      <source>planned: {names}</source>
      <translation>prévu : {names}</translation>
    </message>
    <message>
      <source>No notes in the record.</source>
      <translation>Aucune note dans le dossier.</translation>
    </message>
    <message>
      <source>stage</source>
      <translation>stade</translation>
    </message>
    <message>
      <source>Age</source>
      <translation>Âge</translation>
    </message>
    <message>
      <source>Sex</source>
      <translation>Sexe</translation>
    </message>
    <message>
      <source>Diagnosis</source>
      <translation>Diagnostic</translation>
    </message>
    <message>
      <source>Stage</source>
      <translation>Stade</translation>
    </message>
    <message>
      <source>Markers</source>
      <translation>Marqueurs</translation>
    </message>
    <message>
      <source>ECOG</source>
      <translation>ECOG</translation>
    </message>
    <message>
      <source>Current treatment</source>
      <translation>Traitement en cours</translation>
    </message>
  </context>
  <context>
    <name>Plots</name>
    <message>
      <source>Jan</source>
      <translation>janv.</translation>
    </message>
    <message>
      <source>Feb</source>
      <translation>févr.</translation>
    </message>
    <message>
      <source>Mar</source>
      <translation>mars</translation>
    </message>
    <message>
      <source>Apr</source>
      <translation>avr.</translation>
    </message>
    <message>
      <source>May</source>
      <translation>mai</translation>
    </message>
    <message>
      <source>Jun</source>
      <translation>juin</translation>
    </message>
    <message>
      <source>Jul</source>
      <translation>juil.</translation>
    </message>
    <message>
      <source>Aug</source>
      <translation>août</translation>
    </message>
    <message>
      <source>Sep</source>
      <translation>sept.</translation>
    </message>
    <message>
      <source>Oct</source>
      <translation>oct.</translation>
    </message>
    <message>
      <source>Nov</source>
      <translation>nov.</translation>
    </message>
    <message>
      <source>Dec</source>
      <translation>déc.</translation>
    </message>
    <message>
      <source>No laboratory values in the record.</source>
      <translation>Aucune valeur biologique dans le dossier.</translation>
    </message>
    <message>
      <source>Treatments</source>
      <translation>Traitements</translation>
    </message>
    <message>
      <source>Hospitalisations</source>
      <translation>Hospitalisations</translation>
    </message>
    <message>
      <source>Events</source>
      <translation>Événements</translation>
    </message>
    <message>
      <source>Imaging</source>
      <translation>Imagerie</translation>
    </message>
    <message>
      <source>Predictions</source>
      <translation>Prédictions</translation>
    </message>
  </context>
  <context>
    <name>PredictionCardWidget</name>
    <message>
      <source>Probability event-free</source>
      <translation>Probabilité sans événement</translation>
    </message>
    <message>
      <source>Cumulative incidence</source>
      <translation>Incidence cumulée</translation>
    </message>
    <message>
      <source>reference group, exact by definition</source>
      <translation>groupe de référence, exact par définition</translation>
    </message>
    <message>
      <source>time</source>
      <translation>temps</translation>
    </message>
    <message>
      <source>as recorded</source>
      <translation>tel qu’enregistré</translation>
    </message>
    <message>
      <source>contribution</source>
      <translation>contribution</translation>
    </message>
    <message>
      <source>What moved the result (relative to the reference patient)</source>
      <translation>Ce qui a fait varier le résultat (par rapport au patient de référence)</translation>
    </message>
    <message>
      <source>Model card</source>
      <translation>Fiche du modèle</translation>
    </message>
    <message>
      <source>Refused: no result was computed (reasons below).</source>
      <translation>Refusé : aucun résultat calculé (motifs ci-dessous).</translation>
    </message>
    <message>
      <source>Interval: {method}</source>
      <translation>Intervalle : {method}</translation>
    </message>
    <message>
      <source>What-if curves: tick the scenarios to compare.</source>
      <translation>Courbes « et si » : cochez les scénarios à comparer.</translation>
    </message>
    <message>
      <source>Show evidence in notes</source>
      <translation>Voir les passages dans les notes</translation>
    </message>
    <message>
      <source>risk group: {band}</source>
      <translation>groupe de risque : {band}</translation>
    </message>
    <message>
      <source>{level}% interval {lo} to {hi}</source>
      <translation>intervalle à {level} % : {lo} à {hi}</translation>
    </message>
    <message>
      <source>reference date</source>
      <translation>date de référence</translation>
    </message>
    <message>
      <source>not reached</source>
      <translation>non atteinte</translation>
    </message>
  </context>
  <context>
    <name>PredictionsView</name>
    <message>
      <source>Running the models</source>
      <translation>Exécution des modèles</translation>
    </message>
    <message>
      <source>Predictions</source>
      <translation>Prédictions</translation>
    </message>
    <message>
      <source>Open a patient first.</source>
      <translation>Ouvrez d’abord un patient.</translation>
    </message>
    <message>
      <source>Run models</source>
      <translation>Lancer les modèles</translation>
    </message>
    <message>
      <source>Calculator…</source>
      <translation>Calculatrice…</translation>
    </message>
    <message>
      <source>Model card</source>
      <translation>Fiche du modèle</translation>
    </message>
    <message>
      <source>Looking for plugins</source>
      <translation>Recherche des modules</translation>
    </message>
    <message>
      <source>All applicable models</source>
      <translation>Tous les modèles applicables</translation>
    </message>
    <message>
      <source>Reference date</source>
      <translation>Date de référence</translation>
    </message>
    <message>
      <source>No prediction stored for this patient yet: choose a reference date and run the models.</source>
      <translation>Aucune prédiction enregistrée pour ce patient : choisissez une date de référence et lancez les modèles.</translation>
    </message>
    <message>
      <source>No model applies to this patient on this date.</source>
      <translation>Aucun modèle ne s’applique à ce patient à cette date.</translation>
    </message>
    <message>
      <source>Model card: {name}</source>
      <translation>Fiche du modèle : {name}</translation>
    </message>
    <message>
      <source>The model card cannot be read: {f}: {e}</source>
      <translation>La fiche du modèle est illisible : {f} : {e}</translation>
    </message>
    <message>
      <source>{name} (disabled: {why})</source>
      <translation>{name} (désactivé : {why})</translation>
    </message>
  </context>
  <context>
    <name>ResponsePlot</name>
    <message>
      <source>mm</source>
      <translation>mm</translation>
    </message>
    <message>
      <source>No lesion measured: define lesions in the viewer.</source>
      <translation>Aucune lésion mesurée : définissez les lésions dans la visionneuse.</translation>
    </message>
  </context>
  <context>
    <name>SettingsDialog</name>
    <message>
      <source>Checking</source>
      <translation>Vérification</translation>
    </message>
    <message>
      <source>Settings</source>
      <translation>Réglages</translation>
    </message>
    <message>
      <source>Browse…</source>
      <translation>Parcourir…</translation>
    </message>
    <message>
      <source>Add node</source>
      <translation>Ajouter un nœud</translation>
    </message>
    <message>
      <source>Remove node</source>
      <translation>Retirer le nœud</translation>
    </message>
    <message>
      <source>Data folder</source>
      <translation>Dossier de données</translation>
    </message>
    <message>
      <source>Language</source>
      <translation>Langue</translation>
    </message>
    <message>
      <source>Execution providers (in order)</source>
      <translation>Moteurs d’exécution (par ordre)</translation>
    </message>
    <message>
      <source>verified</source>
      <translation>vérifié</translation>
    </message>
    <message>
      <source>refused</source>
      <translation>refusé</translation>
    </message>
    <message>
      <source>unsigned</source>
      <translation>non signé</translation>
    </message>
    <message>
      <source>About Oncoboard</source>
      <translation>À propos d’Oncoboard</translation>
    </message>
    <message>
      <source>PACS nodes</source>
      <translation>Nœuds PACS</translation>
    </message>
    <message>
      <source>Site settings set by IT (/etc/oncoboard/config.toml) still apply; a changed data folder is used at the next start.</source>
      <translation>Les réglages du site définis par l’informatique (/etc/oncoboard/config.toml) s’appliquent toujours ; un nouveau dossier de données est utilisé au prochain démarrage.</translation>
    </message>
    <message>
      <source>Running the checks…</source>
      <translation>Vérifications en cours…</translation>
    </message>
    <message>
      <source>signed by {s}</source>
      <translation>signé par {s}</translation>
    </message>
    <message>
      <source>Clinical decision support for cancer tumour boards.</source>
      <translation>Aide à la décision clinique pour les RCP d’oncologie.</translation>
    </message>
    <message>
      <source>Execution providers requested</source>
      <translation>Moteurs d’exécution demandés</translation>
    </message>
    <message>
      <source>Plugins</source>
      <translation>Modules</translation>
    </message>
    <message>
      <source>Health checks</source>
      <translation>Vérifications</translation>
    </message>
    <message>
      <source>Plugin</source>
      <translation>Module</translation>
    </message>
    <message>
      <source>Integrity</source>
      <translation>Intégrité</translation>
    </message>
    <message>
      <source>Signature</source>
      <translation>Signature</translation>
    </message>
    <message>
      <source>Origin</source>
      <translation>Origine</translation>
    </message>
    <message>
      <source>Notes</source>
      <translation>Notes</translation>
    </message>
  </context>
  <context>
    <name>SliceView</name>
    <message>
      <source>loading…</source>
      <translation>chargement…</translation>
    </message>
    <message>
      <source>mean</source>
      <translation>moyenne</translation>
    </message>
    <message>
      <source>slices loading…</source>
      <translation>coupes en cours de chargement…</translation>
    </message>
    <message>
      <source>axial</source>
      <translation>axial</translation>
    </message>
    <message>
      <source>coronal</source>
      <translation>coronal</translation>
    </message>
    <message>
      <source>sagittal</source>
      <translation>sagittal</translation>
    </message>
  </context>
  <context>
    <name>ValidationPanel</name>
    <message>
      <source>Harrell's C</source>
      <translation>C de Harrell</translation>
    </message>
    <message>
      <source>Uno's C</source>
      <translation>C d'Uno</translation>
    </message>
    <message>
      <source>AUC</source>
      <translation>AUC</translation>
    </message>
    <message>
      <source>Validate a model on local patients</source>
      <translation>Valider un modèle sur les patients locaux</translation>
    </message>
    <message>
      <source>Validate</source>
      <translation>Valider</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>Annuler</translation>
    </message>
    <message>
      <source>Runs the model on every patient with outcomes, as recorded on the date it would have been used; no later data.</source>
      <translation>Exécute le modèle sur chaque patient dont l'évolution est connue, avec le dossier tel qu'il était à la date où il aurait servi ; aucune donnée postérieure.</translation>
    </message>
    <message>
      <source>predicted risk</source>
      <translation>risque prédit</translation>
    </message>
    <message>
      <source>observed risk</source>
      <translation>risque observé</translation>
    </message>
    <message>
      <source>months after the reference date</source>
      <translation>mois après la date de référence</translation>
    </message>
    <message>
      <source>Kaplan-Meier survival</source>
      <translation>survie de Kaplan-Meier</translation>
    </message>
    <message>
      <source>Validating…</source>
      <translation>Validation en cours…</translation>
    </message>
    <message>
      <source>Cancelled.</source>
      <translation>Annulé.</translation>
    </message>
    <message>
      <source>probability</source>
      <translation>probabilité</translation>
    </message>
    <message>
      <source>low risk</source>
      <translation>risque faible</translation>
    </message>
    <message>
      <source>mid risk</source>
      <translation>risque intermédiaire</translation>
    </message>
    <message>
      <source>high risk</source>
      <translation>risque élevé</translation>
    </message>
    <message>
      <source>O/E ratio</source>
      <translation>rapport O/A</translation>
    </message>
    <message>
      <source>calibration intercept</source>
      <translation>ordonnée à l'origine de calibration</translation>
    </message>
    <message>
      <source>calibration slope</source>
      <translation>pente de calibration</translation>
    </message>
    <message>
      <source>bootstrap samples</source>
      <translation>échantillons bootstrap</translation>
    </message>
    <message>
      <source>horizon</source>
      <translation>horizon</translation>
    </message>
    <message>
      <source>months</source>
      <translation>mois</translation>
    </message>
    <message>
      <source>reference date</source>
      <translation>date de référence</translation>
    </message>
    <message>
      <source>The validation failed:</source>
      <translation>La validation a échoué :</translation>
    </message>
    <message>
      <source>Done in {s} s.</source>
      <translation>Terminé en {s} s.</translation>
    </message>
    <message>
      <source>risk by {h:g} months</source>
      <translation>risque à {h:g} mois</translation>
    </message>
    <message>
      <source>predicted</source>
      <translation>prédit</translation>
    </message>
    <message>
      <source>observed</source>
      <translation>observé</translation>
    </message>
    <message>
      <source>patients</source>
      <translation>patients</translation>
    </message>
    <message>
      <source>validated</source>
      <translation>validés</translation>
    </message>
    <message>
      <source>events</source>
      <translation>événements</translation>
    </message>
    <message>
      <source>value</source>
      <translation>valeur</translation>
    </message>
    <message>
      <source>95 % interval</source>
      <translation>intervalle à 95 %</translation>
    </message>
    <message>
      <source>by the horizon</source>
      <translation>avant l'horizon</translation>
    </message>
    <message>
      <source>Against the figures of the plugin</source>
      <translation>Face aux chiffres du module</translation>
    </message>
    <message>
      <source>published</source>
      <translation>publié</translation>
    </message>
    <message>
      <source>local</source>
      <translation>local</translation>
    </message>
    <message>
      <source>Caveats</source>
      <translation>Réserves</translation>
    </message>
    <message>
      <source>excluded</source>
      <translation>exclus</translation>
    </message>
  </context>
  <context>
    <name>ViewerView</name>
    <message>
      <source>Asking the PACS</source>
      <translation>Interrogation du PACS</translation>
    </message>
    <message>
      <source>Thumbnails</source>
      <translation>Vignettes</translation>
    </message>
    <message>
      <source>No series open</source>
      <translation>Aucune série ouverte</translation>
    </message>
    <message>
      <source>Clear measurements</source>
      <translation>Effacer les mesures</translation>
    </message>
    <message>
      <source>Keep measurements</source>
      <translation>Conserver les mesures</translation>
    </message>
    <message>
      <source>Store the distances and ROIs on screen with the patient's series (they go to the PACS with the board's measurement report)</source>
      <translation>Enregistrer les distances et ROI affichées avec la série du patient (elles partent au PACS avec le rapport de mesures de la RCP)</translation>
    </message>
    <message>
      <source>Compare with prior</source>
      <translation>Comparer à l'antérieur</translation>
    </message>
    <message>
      <source>Loading…</source>
      <translation>Chargement…</translation>
    </message>
    <message>
      <source>Loading series</source>
      <translation>Chargement de la série</translation>
    </message>
    <message>
      <source>Decoding slices</source>
      <translation>Décodage des coupes</translation>
    </message>
    <message>
      <source>Loading from the PACS…</source>
      <translation>Chargement depuis le PACS…</translation>
    </message>
    <message>
      <source>Opening a PACS series</source>
      <translation>Ouverture d'une série du PACS</translation>
    </message>
    <message>
      <source>Loading from the PACS</source>
      <translation>Chargement depuis le PACS</translation>
    </message>
    <message>
      <source>slice loading…</source>
      <translation>coupe en cours de chargement…</translation>
    </message>
    <message>
      <source>Window/level</source>
      <translation>Fenêtrage</translation>
    </message>
    <message>
      <source>Pan</source>
      <translation>Déplacer</translation>
    </message>
    <message>
      <source>Distance</source>
      <translation>Distance</translation>
    </message>
    <message>
      <source>ROI</source>
      <translation>ROI</translation>
    </message>
    <message>
      <source>Window</source>
      <translation>Fenêtre</translation>
    </message>
    <message>
      <source>Measurements can be kept once every slice is loaded</source>
      <translation>Les mesures pourront être conservées une fois toutes les coupes chargées</translation>
    </message>
    <message>
      <source>The imaging index is not available in this version.</source>
      <translation>L’index d’imagerie n’est pas disponible dans cette version.</translation>
    </message>
    <message>
      <source>Listing the series</source>
      <translation>Liste des séries</translation>
    </message>
    <message>
      <source>No images for this patient</source>
      <translation>Aucune image pour ce patient</translation>
    </message>
    <message>
      <source>Keeping the measurements</source>
      <translation>Enregistrement des mesures</translation>
    </message>
    <message>
      <source>{n} measurement(s) kept</source>
      <translation>{n} mesure(s) conservée(s)</translation>
    </message>
    <message>
      <source>images</source>
      <translation>images</translation>
    </message>
    <message>
      <source>Distance {d:.1f} mm</source>
      <translation>Distance {d:.1f} mm</translation>
    </message>
    <message>
      <source>ROI mean {m:.1f}, SD {s:.1f}, {a:.0f} mm²</source>
      <translation>ROI moyenne {m:.1f}, ET {s:.1f}, {a:.0f} mm²</translation>
    </message>
    <message>
      <source>Lung</source>
      <translation>Poumon</translation>
    </message>
    <message>
      <source>Mediastinum</source>
      <translation>Médiastin</translation>
    </message>
    <message>
      <source>Abdomen</source>
      <translation>Abdomen</translation>
    </message>
    <message>
      <source>Bone</source>
      <translation>Os</translation>
    </message>
    <message>
      <source>Brain</source>
      <translation>Cerveau</translation>
    </message>
    <message>
      <source>Header</source>
      <translation>En-tête</translation>
    </message>
    <message>
      <source>Auto</source>
      <translation>Auto</translation>
    </message>
  </context>
  <context>
    <name>Volume3DPanel</name>
    <message>
      <source>CT bone</source>
      <translation>TDM os</translation>
    </message>
    <message>
      <source>CT soft tissue</source>
      <translation>TDM tissus mous</translation>
    </message>
    <message>
      <source>CT lung</source>
      <translation>TDM poumon</translation>
    </message>
    <message>
      <source>MIP</source>
      <translation>MIP</translation>
    </message>
    <message>
      <source>3D rendering starts on demand.</source>
      <translation>Le rendu 3D démarre à la demande.</translation>
    </message>
    <message>
      <source>Show 3D</source>
      <translation>Afficher la 3D</translation>
    </message>
    <message>
      <source>3D view unavailable: Qt's '{p}' platform has no OpenGL window. Run Oncoboard on a desktop (or under Xvfb with QT_QPA_PLATFORM=xcb).</source>
      <translation>Vue 3D indisponible : la plateforme Qt « {p} » n’a pas de fenêtre OpenGL. Lancez Oncoboard sur un poste de travail (ou sous Xvfb avec QT_QPA_PLATFORM=xcb).</translation>
    </message>
    <message>
      <source>3D waits until every slice is loaded…</source>
      <translation>La 3D attend que toutes les coupes soient chargées…</translation>
    </message>
    <message>
      <source>3D view could not start: {e}</source>
      <translation>La vue 3D n’a pas pu démarrer : {e}</translation>
    </message>
  </context>
</TS>
